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
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_LINK_MODE := copy
PYTEST_WORKERS ?= 2

.PHONY: help run test venv deps lint typecheck imports pytest web test-deps browser bench soak clean

help:
	@echo "make run   - install, build, start DataMesh on the embedded PostgreSQL (http://127.0.0.1:8000)"
	@echo "make test  - install and run every check (lint, types, import contracts, tests)"
	@echo "make bench - run the benchmarks and print the ratios"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/datamesh: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

venv: $(BIN)/datamesh

# Node packages the tests use (the OpenID provider fixture).
test-deps:
	@command -v node >/dev/null || { echo "node is required (Debian: apt-get install nodejs npm)"; exit 1; }
	@if [ ! -d tests/fixtures/oidc_provider/node_modules ]; then \
	  npm ci --silent --no-audit --no-fund --prefix tests/fixtures/oidc_provider; fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

pytest: venv test-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

test: venv test-deps lint typecheck imports pytest

run: venv
	$(BIN)/datamesh serve

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
