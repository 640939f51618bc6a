# DataMesh: `make run` starts the product, `make test` runs every check.
# Both install what they need on a fresh machine (Python venv via uv, npm packages, Debian packages).

SHELL := /bin/bash
.DEFAULT_GOAL := help
# The interpreter: `python3` when it is 3.11-3.13, else the newest python3.13/3.12/3.11 on the
# PATH; PYTHON=... overrides. Checked by `python-check` before anything is installed with it.
SUPPORTED_PYTHONS := 3.13 3.12 3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3 $(addprefix python,$(SUPPORTED_PYTHONS)); do \
  $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 \
  && { echo $$p; break; }; done)
endif
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

.PHONY: help run demo test venv lint typecheck imports pytest web web-check test-deps chromium bench soak clean \
	python-check wheel portability

help:
	@echo "make run   - install, build, start DataMesh on the embedded PostgreSQL (http://127.0.0.1:8000)"
	@echo "make test  - install and run every check (lint, types, import contracts, web, tests)"
	@echo "make bench - run the benchmarks and print the ratios"

PYTHON_HELP := install one (Debian/Ubuntu: apt-get install python3; macOS: brew install python@3.13) or name one with PYTHON=/path/to/python3.13
python-check:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "DataMesh needs Python 3.11, 3.12 or 3.13, and none of python3, python3.13, python3.12, python3.11 on the PATH is one: $(PYTHON_HELP)." >&2; exit 1; \
	elif ! $(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1; then \
	  echo "DataMesh needs Python 3.11, 3.12 or 3.13, and PYTHON=$(PYTHON) is not one: $(PYTHON_HELP)." >&2; exit 1; fi

$(UV): | python-check
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/datamesh: $(UV) pyproject.toml uv.lock | python-check
	$(UV) sync --frozen --quiet
	@touch $@

venv: $(BIN)/datamesh | python-check

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { $(BIN)/python -c 'import hatch_build as h; print(h.NO_NPM)' >&2; exit 1; }
	$(NPM) ci --prefix web
	@touch $@

# The web UI, built into the Python package's static folder (served by FastAPI) when the web
# sources changed: the same step as the wheel build's hook (hatch_build.py).
web: venv
	@$(BIN)/python hatch_build.py

# The wheel (and sdist) in dist/: the whole product, web UI included.
wheel: venv web
	rm -rf dist
	$(UV) build --quiet --out-dir dist

# The wheel, installed into a fresh venv on each other supported Python, serves the product on
# the embedded PostgreSQL (a missing Python is skipped with the reason printed).
PORTABILITY_PYTHONS ?= 3.12 3.13
portability: wheel
	$(BIN)/python -m tests.portability $$(ls dist/datamesh-*.whl) $(PORTABILITY_PYTHONS)

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

test: lint typecheck imports web-check portability pytest

bench: venv
	$(BIN)/python -m bench

# The long runs (a few minutes): the mixed load with 200 live streams against `serve --workers 2`
# (figures in BENCHMARKS.md; fails on any error), then the fault tests at full size.
SOAK_SECONDS ?= 120
soak: venv
	$(BIN)/python -m bench.load --seconds $(SOAK_SECONDS) --streams 200 --clients 16 --workers 2
	DATAMESH_SOAK=1 $(BIN)/pytest -q -p no:cacheprovider tests/faults

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache web/node_modules src/datamesh/static dist
