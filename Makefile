# chargeops: `make demo` to see it run, `make test` to check everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo serve test lint bench-quick clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit("chargeops needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

## demo: chargeops on SQLite with simulated chargers; prints the URLs (Ctrl-C stops it)
demo: $(VENV)/.installed
	$(BIN)/chargeops demo

## serve: chargeops alone, configured by CHARGEOPS_* variables
serve: $(VENV)/.installed
	$(BIN)/chargeops serve

## lint: ruff, mypy and the layer contracts of ARCHITECTURE.md
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, then the whole suite on SQLite and PostgreSQL (127.0.0.1:5432, database test),
## in TEST_WORKERS processes (most tests wait on sockets and timeouts, so more than the cores)
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

## bench-quick: the gateway benchmark, small (see BENCHMARKS.md for the full run)
bench-quick: $(VENV)/.installed-dev
	$(BIN)/python bench/gateway_bench.py --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
