# Two entry points: `make run` (solve the bundled sample) and `make test` (the whole suite).
# Both create .venv from pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/allocator solve data/sample --out var/sample-result.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy allocator

test: lint
	$(BIN)/pytest -n 2 -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
