"""`make bench-load` works end to end: the load benchmark with tiny numbers.

Only that every phase runs and writes its figures; the figures themselves
depend on the machine, so no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_load_runs_cycle_baseline_and_parked_phases_and_writes_figures(tmp_path: Path):
    out = tmp_path / "load.json"
    # Ours, then the baseline, one round each; 20 parked over three regions.
    args = ["--n", "6", "--warmup", "1", "--rounds", "1", "--parked", "20"]
    args += ["--queue-requests", "3", "--queue-spread", "0", "--recheck-seconds", "1"]
    args += ["--poll-seconds", "0.3"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_load.py"), *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())

    for side in ("ours", "baseline"):
        run = figures[side]
        assert run["cycles"] == 6
        assert run["not_completed"] == 0
        assert run["decision_update"]["count"] == 12  # an OM and a Billing decision each
        assert run["cpu_seconds_per_cycle"]["worker"] > 0
        assert run["peak_rss_mib"]["worker"] > 0
        assert run["history_events"]["delivered"]["workflow_execution_update_completed"] == 2
    assert figures["ours"]["side_effect_problems"] == 0
    assert figures["throughput_ratio"] > 0

    parked = figures["parked"]
    assert parked["parked"] == 20
    assert parked["worker_rss_mib"] > 0
    assert parked["queue"]["all_regions"]["rows"] == 20
    assert 0 < parked["queue"]["region_amer"]["rows"] < 20
    assert "load_average_end" in figures
    assert "throughput ours/baseline" in done.stdout
