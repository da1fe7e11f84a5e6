# The two commands a newcomer runs: `make run` and `make test`.
# Everything installs from PyPI into .venv; nothing downloads at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser run test lint unit test-dates test-chaos record-histories bench-calendar bench-reconcile bench-replay bench-cli bench-load bench-reports bench-queue clean

install: $(STAMP) browser

# The runtime project with its test and dev extras, and the sandbox and
# load-test packages from devtools/ (not in the runtime wheel), both editable.
$(STAMP): pyproject.toml devtools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e ./devtools
	touch $(STAMP)

# The browser tests drive Debian's Chromium through Playwright's Python
# package (never `playwright install`: nothing downloads a browser).
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian chromium for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
		else echo "no root or sudo: browser tests will skip (apt-get install chromium)"; exit 0; fi; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

run: install
	$(BIN)/om dev

test: install lint
	$(BIN)/pytest -q
	$(BIN)/python -m tests.dates

# The date-sensitive suites again with "now" pinned to awkward instants
# (month and quarter ends, 16:29 and 16:31 in each region, a US, an England
# and a Philippine holiday, each clock change): `make test` runs it too.
# `python -m tests.dates --list` prints the instants of this run.
test-dates: install
	$(BIN)/python -m tests.dates

# ruff (lint and format), the layer contract (import-linter, contracts in
# pyproject.toml) and the type checker (mypy: strict on domain/ and workflows/).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy domain workflows activities workers om api cli sandbox loadtest benchmarks

unit: install
	$(BIN)/pytest -q tests/unit

# The chaos suite alone (it is part of `make test` too): 100 opportunities
# in flight per scenario while the worker, the server or the sandbox fail.
test-chaos: install
	$(BIN)/pytest -q -m chaos tests/chaos

# Regenerate tests/histories from the workflow tests. Only for a deliberate
# change: old histories must keep replaying (use workflow.patched).
record-histories: install
	OM_RECORD_HISTORIES=1 $(BIN)/pytest -q -p no:randomly tests/workflow

bench-calendar: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_calendar.py

bench-reconcile: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_reconcile.py
	$(BIN)/python benchmarks/bench_reconcile_e2e.py

# `om replay` over 1,000 histories built from tests/histories (target 30 s on
# 2 cores) beside one process with one Replayer, as before --jobs.
bench-replay: install
	$(BIN)/python benchmarks/bench_replay.py --breakdown $(BENCH_REPLAY_ARGS)

# `om` start-up: `om --help`, `om check` and `om status` (against a dev server
# and worker of its own) beside `temporal workflow describe`; medians of 10 runs.
bench-cli: install
	$(BIN)/python benchmarks/bench_cli.py --breakdown $(BENCH_CLI_ARGS)

# Full cycle vs a same-shape baseline, then 10,000 parked opportunities:
# about 40 minutes on 2 cores. Smaller: make bench-load BENCH_LOAD_ARGS="--n 200 --parked 2000"
bench-load: install
	$(BIN)/python benchmarks/bench_load.py $(BENCH_LOAD_ARGS)

# The manager's reports page for a quarter of 10,000 decided rounds (target
# 1 s) and the policy simulator over 100,000 (target 10 s), each beside a
# pandas groupby of the same figures: docs/performance.md, "Manager's reports".
bench-reports: install
	$(BIN)/python benchmarks/bench_reports.py $(BENCH_REPORTS_ARGS)

# Only the parked phase: 10,000 opportunities left in om_review, then
# GET /queue p95 per region (AMER, EMEA, APAC) and for all regions.
# Smaller: make bench-queue BENCH_QUEUE_ARGS="--parked 600"
bench-queue: install
	$(BIN)/python benchmarks/bench_load.py --phases parked --out benchmarks/results/queue.json $(BENCH_QUEUE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
