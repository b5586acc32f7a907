# alumnet: `make serve` runs it on the embedded default; `make test` runs the checks.
# Everything is installed from uv.lock (exact versions and hashes), with uv, which the
# first run bootstraps into the venv from the package registry.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: serve test lint typecheck imports pytest schema bench lock outdated clean

# uv itself, bootstrapped into the venv from the package registry.
$(UV): Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" \
	  || { echo "make: could not install uv $(UV_VERSION) from the package registry (is the network up?)" >&2; exit 1; }
	@touch $(UV)

# The stamp is written only once everything is installed: a run that failed half-way is
# done again, never trusted.
$(STAMP): pyproject.toml uv.lock $(UV)
	@rm -f $(STAMP)
	@$(UV) sync --locked --extra dev --quiet \
	  || { echo "make: the install from uv.lock failed. If uv.lock is out of date with pyproject.toml, or a hash in it does not match, run 'make lock' (and commit uv.lock); if the registry cannot be reached, try again when it can." >&2; exit 1; }
	@touch $(STAMP)

# `make serve PORT=8765 HOST=0.0.0.0` to listen elsewhere (on the command line only: a
# HOST or PORT exported for another tool must not open the demo to the network).
PORT = 8000
HOST = 127.0.0.1

serve: $(STAMP)
	$(BIN)/alumnet migrate upgrade
	$(BIN)/alumnet seed --demo --if-empty
	ALUMNET_DEBUG=$${ALUMNET_DEBUG-1} $(BIN)/alumnet serve --host $(HOST) --port $(PORT)

test: $(STAMP) lint typecheck imports pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# With bytecode written: PYTHONDONTWRITEBYTECODE, set on some machines, has each Python
# process the tests start (servers, CLI commands, workers) compile alumnet and its
# libraries again, ~2.5 s of CPU each.
pytest: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -n 2 $(PYTEST_ARGS)

schema: $(STAMP)
	$(BIN)/alumnet export-schema

# Newest versions within pyproject.toml's bounds, written to uv.lock (commit it).
lock: $(UV)
	$(UV) lock --upgrade

# What is newer than the lock, within and beyond pyproject.toml's bounds.
outdated: $(STAMP)
	$(UV) pip list --outdated

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
