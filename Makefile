# DataMesh: `make run` starts the product, `make test` runs every check.
# Both install what they need on a fresh machine (Python venv via uv, npm packages, Debian packages).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
NPM := npm --no-audit --no-fund --loglevel=error
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_LINK_MODE := copy
PYTEST_WORKERS ?= 2
STATIC := src/datamesh/static/index.html
WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/package.json -type f 2>/dev/null)

.PHONY: help run demo test venv lint typecheck imports pytest web web-check test-deps chromium bench soak clean

help:
	@echo "make run   - install, build, start DataMesh on the embedded PostgreSQL (http://127.0.0.1:8000)"
	@echo "make test  - install and run every check (lint, types, import contracts, web, tests)"
	@echo "make bench - run the benchmarks and print the ratios"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/datamesh: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

venv: $(BIN)/datamesh

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js and npm are required (Debian: apt-get install nodejs npm)"; exit 1; }
	$(NPM) ci --prefix web
	@touch $@

# The web UI, built into the Python package's static folder (served by FastAPI).
$(STATIC): web/node_modules/.package-lock.json $(WEB_SOURCES)
	$(NPM) --prefix web run build

web: $(STATIC)

run: venv web
	$(BIN)/datamesh demo
	$(BIN)/datamesh serve

demo: venv
	$(BIN)/datamesh demo

# What the tests need besides Python: the OpenID provider (npm) and Chromium (Debian).
tests/fixtures/oidc_provider/node_modules/.package-lock.json: tests/fixtures/oidc_provider/package-lock.json
	$(NPM) ci --prefix tests/fixtures/oidc_provider
	@touch $@

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

test-deps: venv tests/fixtures/oidc_provider/node_modules/.package-lock.json chromium web

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

web-check: web/node_modules/.package-lock.json
	$(NPM) --prefix web run typecheck
	$(NPM) --prefix web run lint
	$(NPM) --prefix web test

# Browser tests drive Chromium through Playwright's sync API, which must not share a process
# with the asyncio tests: they run as a second pytest session.
pytest: test-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q --ignore=tests/e2e
	$(BIN)/pytest -q tests/e2e

test: lint typecheck imports web-check pytest

bench: venv
	$(BIN)/python -m bench

# The long runs (a few minutes): the mixed load with 200 live streams against `serve --workers 2`
# (figures in BENCHMARKS.md; fails on any error), then the fault tests at full size.
SOAK_SECONDS ?= 120
soak: venv
	$(BIN)/python -m bench.load --seconds $(SOAK_SECONDS) --streams 200 --clients 16 --workers 2
	DATAMESH_SOAK=1 $(BIN)/pytest -q -p no:cacheprovider tests/faults

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache web/node_modules src/datamesh/static
