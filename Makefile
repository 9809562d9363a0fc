# chargeops: `make demo` to see it run, `make test` to check everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo serve test lint chromium bench-quick clean

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

## chromium: Debian's chromium, the browser the console's tests drive (Playwright's own
## browser download is not used); CHARGEOPS_CHROMIUM names another one
CHROMIUM ?= $(or $(CHARGEOPS_CHROMIUM),/usr/bin/chromium)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	@echo "$@ is missing: installing Debian's chromium (for the console's browser tests)"
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation \
		|| { echo "could not install chromium: the console's browser tests need it" \
			"(apt-get install chromium, or set CHARGEOPS_CHROMIUM)" >&2; exit 1; }
	@test -x $@ || { echo "$@ is still missing after installing chromium" >&2; exit 1; }

chromium: $(CHROMIUM)

## test: lint, then the whole suite on SQLite and PostgreSQL (127.0.0.1:5432, database test),
## in TEST_WORKERS processes (most tests wait on sockets and timeouts, so twice the cores
## of a small box), each taking the next test when it is free (worksteal: no long tail)
TEST_WORKERS ?= 4
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

## bench-quick: the gateway benchmark, small (see BENCHMARKS.md for the full run)
bench-quick: $(VENV)/.installed-dev
	$(BIN)/python bench/gateway_bench.py --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
