# The two commands a newcomer runs: `make run` and `make test`.
# Everything installs from PyPI into .venv; nothing downloads at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint unit bench-calendar clean

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

bench-calendar: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_calendar.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
