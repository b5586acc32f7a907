# alumnet: `make serve` runs it on the embedded default; `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck imports pytest schema bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/alumnet migrate upgrade
	$(BIN)/alumnet seed --demo --if-empty
	ALUMNET_DEBUG=$${ALUMNET_DEBUG-1} $(BIN)/alumnet serve

test: $(STAMP) lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

schema: $(STAMP)
	$(BIN)/alumnet export-schema

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/attendance.py
	$(BIN)/python bench/notify.py --skip-seed
	$(BIN)/python bench/directory.py
	$(BIN)/python bench/imports.py --skip-seed
