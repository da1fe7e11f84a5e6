"""Benchmark `om replay` at audit scale: 1,000 histories, target 30 s on 2 cores.

Why: an auditor replays every workflow of a period at once. This script
builds the auditor's folder from the recorded histories and times, on the
same folder in the same run:

1. before, fresh Replayer: one process, a new `Replayer` per history (the
   way tests/replay does it; `replay_one_at_a_time` below);
2. before, `om replay`: one process, one Replayer for all histories, as
   `om replay` did before `--jobs` (`replay_in_one_replayer`): the baseline;
3. `om replay --jobs 1`: the same, plus the workflow bytecode it now writes
   first;
4. `om replay`: the default, a process per CPU.

Both ways before run without the workflow modules' bytecode, as they did on
a tree where Python writes none (PYTHONDONTWRITEBYTECODE=1, our development
machines; `without_workflow_bytecode` below). A copy installed by pip has
the bytecode already: there row 3 is the baseline.

Each is a process of its own, started from scratch (interpreter, imports,
Temporal runtime), because an auditor's command pays for those too; wall
time is measured around the whole process, CPU time from the children's
rusage. Every run must report every history ok (and both `om replay` runs
the same lines in the same order), else the benchmark fails.

`--breakdown` also measures, in this process, where one process's CPU time
goes: reading JSON into protobuf, the sandbox instantiating the workflow for
each history, and the rest (Temporal's core replaying the events, our
workflow code, the SDK's activation handling).

Run:  make bench-replay
      .venv/bin/python benchmarks/bench_replay.py [--n 1000] [--jobs N] [--breakdown]
The folder is built under a temporary directory and removed afterwards
(`--keep DIR` builds it in DIR and leaves it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECORDED = ROOT / "tests" / "histories"
OM = Path(sys.executable).parent / "om"
TARGET_SECONDS = 30.0  # for TARGET_HISTORIES, on 2 cores
TARGET_HISTORIES = 1000


# ---- the folder ---------------------------------------------------------------------------


def build_folder(folder: Path, n: int) -> list[Path]:
    """N copies of the recorded histories, cycled, each with a workflow id of
    its own (`bench-0001-<recorded file>`, in the start event and the file
    name), so no two look like the same workflow."""
    recorded = sorted(RECORDED.rglob("*.json"))
    if not recorded:
        raise SystemExit(f"no recorded histories in {RECORDED}: run `make record-histories`")
    folder.mkdir(parents=True, exist_ok=True)
    texts = [path.read_text() for path in recorded]
    written = []
    for i in range(n):
        data = json.loads(texts[i % len(texts)])
        workflow_id = f"bench-{i:04d}-{recorded[i % len(recorded)].stem}"
        data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"] = workflow_id
        path = folder / f"{workflow_id}.json"
        path.write_text(json.dumps(data))
        written.append(path)
    return written


# ---- the ways before ------------------------------------------------------------------------


@contextlib.contextmanager
def without_workflow_bytecode(warm_up: Path) -> Iterator[None]:
    """Replay as on a tree without the workflow modules' bytecode, where
    Python writes none (PYTHONDONTWRITEBYTECODE=1): as before `om replay`
    wrote it.

    One history is replayed first, so that everything else is imported as
    usual, from its bytecode; then Python is pointed at an empty bytecode
    folder and told to write none, so that each of the sandbox's imports of
    the workflow modules compiles their source. No file of the tree is touched."""
    asyncio.run(replay_one_at_a_time([warm_up]))
    with tempfile.TemporaryDirectory(prefix="no-bytecode-") as empty:
        sys.pycache_prefix = empty
        sys.dont_write_bytecode = True
        yield


async def replay_one_at_a_time(paths: list[Path]) -> int:
    """Replay each history with a Replayer of its own, as tests/replay does;
    the number that replayed without failure."""
    from temporalio.client import WorkflowHistory
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    from cli.replay import history_workflow_id
    from workflows import ALL_WORKFLOWS

    ok = 0
    for path in paths:
        text = path.read_text()
        history = WorkflowHistory.from_json(history_workflow_id(text, path.stem), text)
        replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        ok += result.replay_failure is None
    return ok


def replay_in_one_replayer(paths: list[Path]) -> int:
    """What `om replay` did before `--jobs`: one Replayer in this process,
    a line per history; the number that replayed without failure."""
    from cli.replay import ReplaySource, replay_in_process

    ok = 0

    def report(position: int, outcome: Any) -> None:
        nonlocal ok
        print(f"ok    {outcome.source}" if outcome.ok else f"FAIL  {outcome.source}")
        ok += outcome.ok

    sources = [ReplaySource(label=str(p), path=p) for p in paths]
    asyncio.run(replay_in_process(sources, report))
    return ok


# ---- timing --------------------------------------------------------------------------------


@dataclass
class Run:
    way: str
    histories: int
    wall_s: float
    cpu_s: float
    others_cpu_s: float | None
    stdout: str

    @property
    def per_second(self) -> float:
        return self.histories / self.wall_s


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent busy since boot (Linux), so that
    what other processes took during a run can be told apart from ours."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return None
    fields = [int(x) for x in stat.read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # Guest time is counted in user time already.
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def timed(way: str, command: list[str], histories: int) -> Run:
    """Run `command` as a fresh process: its wall time, the CPU time of it
    and its children, and the CPU time other processes took meanwhile."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before = busy_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    busy_after = busy_cpu_seconds()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, busy_after - busy_before - cpu)
    if done.returncode != 0:
        raise SystemExit(f"{way}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr}")
    print(
        f"  {way}: {wall:.1f} s wall, {cpu:.1f} s CPU"
        + ("" if others is None else f" (other processes: {others:.1f} s CPU)"),
        flush=True,
    )
    return Run(way, histories, wall, cpu, others, done.stdout)


def check_om_output(run: Run, paths: list[Path]) -> None:
    """Every history ok, one line each, in input order."""
    *lines, summary = run.stdout.splitlines()
    n = len(paths)
    expected = [f"ok    {path}" for path in paths]
    if summary != f"replayed {n} histories: {n} ok, 0 failed" or lines != expected:
        raise SystemExit(f"{run.way}: unexpected output; summary {summary!r}")


# ---- breakdown -------------------------------------------------------------------------------


def breakdown(paths: list[Path]) -> dict[str, float]:
    """CPU milliseconds per history of one process, by part: JSON read into
    protobuf, the sandbox creating each workflow instance, the rest."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from cli.replay import ReplaySource, load_history_file
    from workflows import ALL_WORKFLOWS

    sources = [ReplaySource(label=str(p), path=p) for p in paths]
    start = time.process_time()
    histories = [load_history_file(s) for s in sources]
    load_s = time.process_time() - start

    sandbox_s = 0.0

    class TimedSandbox(SandboxedWorkflowRunner):
        """The SDK's sandbox, with the time it spends creating each instance
        (importing the workflow's modules afresh) added up."""

        def create_instance(self, det: Any) -> Any:
            nonlocal sandbox_s
            # Runs in the worker's activation thread: that thread's CPU only.
            began = time.thread_time()
            try:
                return super().create_instance(det)
            finally:
                sandbox_s += time.thread_time() - began

    async def replay_all() -> None:
        async def feed() -> Any:
            for history in histories:
                yield history

        replayer = Replayer(
            workflows=ALL_WORKFLOWS,
            data_converter=pydantic_data_converter,
            workflow_runner=TimedSandbox(),
            build_id="om-replay",
        )
        results = await replayer.replay_workflows(feed(), raise_on_replay_failure=True)
        assert not results.replay_failures

    start = time.process_time()
    asyncio.run(replay_all())
    replay_s = time.process_time() - start
    n = len(paths)
    total = load_s + replay_s
    return {
        "json_to_protobuf_ms": 1000 * load_s / n,
        "sandbox_instance_ms": 1000 * sandbox_s / n,
        "core_and_workflow_ms": 1000 * (replay_s - sandbox_s) / n,
        "total_ms": 1000 * total / n,
    }


# ---- main ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    model = names[0] if names else platform.processor()
    import google.protobuf
    import temporalio

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "cpus": cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "protobuf": google.protobuf.__version__,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="histories in the folder")
    parser.add_argument("--jobs", type=int, help="--jobs of the new `om replay` (its default)")
    parser.add_argument("--breakdown", action="store_true", help="also where the CPU time goes")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the folder in DIR, keep it")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    # The ways before, each run by this script in a process of its own.
    parser.add_argument("--way", choices=["fresh", "before"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.way:
        paths = sorted(args.folder.glob("*.json"))
        with without_workflow_bytecode(paths[0]):
            if args.way == "fresh":
                ok = asyncio.run(replay_one_at_a_time(paths))
            else:
                ok = replay_in_one_replayer(paths)
        print(f"{ok} of {len(paths)} ok")
        return

    from cli.replay import default_jobs, prepare

    top = args.keep or Path(tempfile.mkdtemp(prefix="bench-replay-"))
    folder = top / "histories"
    try:
        shutil.rmtree(folder, ignore_errors=True)
        paths = build_folder(folder, args.n)
        n = len(paths)
        # The workflow bytecode is there for every way; `before` hides it itself.
        prepare()
        jobs = args.jobs or default_jobs(n)
        info = machine()
        load_start = os.getloadavg()
        print(f"{n} histories from {RECORDED.relative_to(ROOT)} in {folder}")
        print(f"machine: {info['cpu']}, {info['cpus']} CPUs, Python {info['python']}")

        def way(name: str) -> list[str]:
            return [sys.executable, __file__, "--way", name, "--folder", str(folder)]

        fresh = timed("before: fresh Replayer per history", way("fresh"), n)
        before = timed("before: om replay, 1 Replayer", way("before"), n)
        for run in (fresh, before):
            if run.stdout.splitlines()[-1:] != [f"{n} of {n} ok"]:
                raise SystemExit(f"{run.way}: {run.stdout.splitlines()[-1:]}")
        one = timed("om replay --jobs 1", [str(OM), "replay", str(folder), "--jobs", "1"], n)
        new = timed(
            f"om replay (--jobs {jobs})", [str(OM), "replay", str(folder), "--jobs", str(jobs)], n
        )
        for run in (one, new):
            check_om_output(run, paths)
        parts = breakdown(paths) if args.breakdown else None
        load_end = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)

    print()
    runs = (fresh, before, one, new)
    print(
        f"{'way':35} {'wall s':>6} {'CPU s':>6} {'others':>6} {'hist/s':>6} "
        f"{'vs before':>9} {'vs --jobs 1':>11}"
    )
    for run in runs:
        others = "" if run.others_cpu_s is None else f"{run.others_cpu_s:.1f}"
        print(
            f"{run.way:35} {run.wall_s:6.1f} {run.cpu_s:6.1f} {others:>6} {run.per_second:6.1f} "
            f"{run.per_second / before.per_second:8.2f}x {run.per_second / one.per_second:10.2f}x"
        )
    print("others: CPU seconds that other processes on the machine took during the run")
    print(f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    if parts:
        print(
            "one process, CPU ms per history: "
            f"JSON to protobuf {parts['json_to_protobuf_ms']:.1f}, "
            f"sandbox instance {parts['sandbox_instance_ms']:.1f}, "
            f"core and workflow code {parts['core_and_workflow_ms']:.1f} "
            f"(total {parts['total_ms']:.1f})"
        )
    # The target is for 1,000 histories; with fewer, start-up weighs too much
    # to scale it down, and the run is not judged.
    met = n < TARGET_HISTORIES or new.wall_s <= TARGET_SECONDS * n / TARGET_HISTORIES
    if n >= TARGET_HISTORIES:
        print(
            f"target: {n} histories in {TARGET_SECONDS * n / TARGET_HISTORIES:.1f} s: "
            f"{'met' if met else 'MISSED'} ({new.wall_s:.1f} s)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "histories": n,
                    "load_average": [load_start[0], load_end[0]],
                    "runs": [
                        {
                            "way": r.way,
                            "wall_s": r.wall_s,
                            "cpu_s": r.cpu_s,
                            "others_cpu_s": r.others_cpu_s,
                            "per_s": r.per_second,
                        }
                        for r in runs
                    ],
                    "breakdown_ms": parts,
                },
                indent=2,
            )
            + "\n"
        )
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
