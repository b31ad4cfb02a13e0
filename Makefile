# Two entry points: `make run` (the service with a finished run of the bundled sample, on
# http://127.0.0.1:8000) and `make test` (the whole suite). Both create .venv from
# pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Creates var/allocator.db, a planner key named demo (printed), stores data/sample, submits one
# run, then serves the API and /docs until Ctrl-C.
run: $(STAMP)
	$(BIN)/allocator demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy allocator

test: lint
	$(BIN)/pytest -n 2 -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
