# The two commands a newcomer runs: `make run` and `make test`.
# Everything installs from PyPI into .venv; nothing downloads at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint unit record-histories bench-calendar clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/om dev

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

unit: install
	$(BIN)/pytest -q tests/unit

# Regenerate tests/histories from the workflow tests. Only for a deliberate
# change: old histories must keep replaying (use workflow.patched).
record-histories: install
	OM_RECORD_HISTORIES=1 $(BIN)/pytest -q tests/workflow

bench-calendar: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_calendar.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
