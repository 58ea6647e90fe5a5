# crossview developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests and benchmarks are sized for 2 CPU cores; one BLAS thread per pytest worker.
PYTEST_WORKERS ?= 2

.PHONY: setup test demo bench lint browser robustness clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,bench]"
	touch $(STAMP)

test: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests

demo: setup
	$(BIN)/crossview demo

bench: setup
	$(BIN)/python benchmarks/run.py

# The full fault-injection and bad-input suites (make test runs their fast subset).
robustness: setup
	OMP_NUM_THREADS=1 CROSSVIEW_FULL_SUITES=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -m "faults or badinput" tests/robustness
	$(BIN)/python tests/robustness/faults.py

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Headless Chromium for the HTML report tests (Debian packages; needs root).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache
