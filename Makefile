# Entry points: `make run` (solve the bundled sample, print the summary, then serve it as a
# finished run on http://127.0.0.1:8000), `make test` (lint and the whole suite) and
# `make test-fast` (the core, solve, io, explain and what-if unit tests and the doctests: no
# test marked slow, i.e. real servers, Schemathesis, Ray, Hypothesis properties, subprocesses,
# long solves; no service-layer test). All create .venv from pyproject.toml
# on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Checks that PORT is free (`make run PORT=8001` picks another), solves data/sample and prints
# the summary; then creates var/allocator.db, the planner key named demo (kept in var/demo.key and
# printed again each time), makes data/sample the workspace when it is empty, submits its first
# weekly run, and serves the planning app (http://HOST:PORT/), the API and /docs until Ctrl-C.
run: $(STAMP)
	$(BIN)/allocator demo --check-port --host $(HOST) --port $(PORT)
	$(BIN)/allocator solve data/sample --out var/sample-result.json
	$(BIN)/allocator demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy allocator

test: lint
	$(BIN)/pytest -n 2 --dist worksteal -q

test-fast: $(STAMP)
	$(BIN)/pytest -n 2 --dist worksteal -q -m "not slow and not service"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
