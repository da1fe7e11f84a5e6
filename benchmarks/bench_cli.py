"""Benchmark `om`'s start-up: what a person waits for at the terminal.

Why: `om` is typed dozens of times a day (`om queue`, `om status`, `om
approve`); each is a fresh Python process, so its imports are paid every
time. Targets on an idle 2-core machine: `om --help` at most 0.3 s wall,
and `om status ID` at most 3x `temporal workflow describe` of the same
workflow (the Temporal CLI, a Go binary: the floor for "ask the server
about one workflow").

In one run, each a median over `--runs` processes (default 10):

1. `om --help` (imports every command module, renders the help);
2. `om check tests/fixtures/opportunity.example.json` (a local command);
3. `om status ID --json` against a running Temporal;
4. `temporal workflow describe --workflow-id opportunity-ID` of the same
   workflow on the same server.

For 3 and 4 the bench starts its own headless dev server on a free port
(`cli.dev.start_temporal`, the venv's `temporal` binary), runs a worker in
this process with the workflow tests' stand-ins for the external systems
(tests/workflow/fakes.py: no sandbox needed), submits one opportunity and
waits until it waits for Order Management review. `om status` asks the
workflow itself (a query the worker answers); `temporal workflow describe`
reads the server's record. Each process's environment names only the
server and a scratch OM_HOME.

`--breakdown` also runs `om status`'s steps one by one in a fresh
interpreter (imports, settings, connect, query) to show where its time goes.

Run:  make bench-cli
      .venv/bin/python benchmarks/bench_cli.py [--runs 10] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.dev import start_temporal, stop_process, temporal_binary  # noqa: E402
from loadtest.ports import free_port  # noqa: E402

OM = str(Path(sys.executable).parent / "om")
FIXTURE = ROOT / "tests" / "fixtures" / "opportunity.example.json"
HELP_TARGET_SECONDS = 0.3
STATUS_TARGET_RATIO = 3.0

# `om status`'s steps, each timed, in a fresh interpreter (--breakdown).
BREAKDOWN = """
import asyncio, json, sys, time
steps = {}
mark = time.perf_counter()

def step(name):
    global mark
    now = time.perf_counter()
    steps[name] = now - mark
    mark = now

import cli.main
step("import cli.main (typer, every command module)")
import temporalio.client, temporalio.contrib.pydantic
step("import the Temporal SDK's client and pydantic converter")
import om.settings
step("import om.settings (pydantic-settings, the policy, holidays)")
import om.approvals, om.client
step("import om.approvals, om.client (workflow definitions, codec)")
settings = om.settings.load_settings()
step("load_settings()")

async def ask():
    client = await om.client.connect(settings, serve_metrics=False)
    step("connect (Temporal runtime, gRPC channel)")
    await om.approvals.Approvals(client, settings).status(sys.argv[1])
    step("status query (through the worker)")

asyncio.run(ask())
print(json.dumps(steps))
"""


@dataclass
class Timing:
    label: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any OM_ / TEMPORAL_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(extra)
    return env


def time_command(label: str, args: list[str], env: dict[str, str], runs: int) -> Timing:
    """Wall time of `runs` runs of `args`, after one unmeasured warm-up (page
    cache); every run must succeed, so a broken command cannot look fast."""
    subprocess.run(args, env=env, capture_output=True, check=True, timeout=120)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, timeout=120)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{label} failed ({done.returncode}): {done.stderr.decode()}")
    return Timing(label, seconds)


# ---- Temporal, a worker and one workflow --------------------------------------------------


@contextmanager
def temporal_server(folder: Path) -> Iterator[str]:
    port = free_port()
    process = start_temporal(folder / "temporal.db", folder / "temporal.log", port, ui_port=None)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process)


class WorkerThread:
    """A worker with the fake external systems, in a thread with its own event
    loop, and one opportunity submitted and waiting for Order Management review."""

    def __init__(self, address: str, home: Path) -> None:
        self.address, self.home = address, home
        self.opportunity_id = "006BENCH" + uuid.uuid4().hex[:10].upper()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="bench-worker", daemon=True)

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        if not self.ready.wait(120) or self.error is not None:
            raise SystemExit(f"the worker or the submission failed: {self.error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(60)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:
            self.error = error
            self.ready.set()

    async def _serve(self) -> None:
        from datetime import UTC, datetime

        from domain.models import Opportunity
        from om.approvals import Approvals
        from om.client import connect
        from om.settings import Settings
        from tests.workflow.fakes import FakeSystems
        from workers.search_attributes import ensure_search_attributes
        from workers.worker import build_worker

        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        settings = Settings(
            temporal_address=self.address,
            home=self.home,
            task_queue=f"bench-cli-{uuid.uuid4().hex[:8]}",
            cover_business_days=0,
        )
        client = await connect(settings, serve_metrics=False)
        await ensure_search_attributes(client)
        payload = json.loads(FIXTURE.read_text())
        payload["id"] = self.opportunity_id
        approvals = Approvals(client, settings)
        async with build_worker(client, settings, activities=FakeSystems().activities()):
            await approvals.submit(Opportunity.model_validate(payload), datetime.now(UTC))
            for _ in range(600):
                status = await approvals.status(self.opportunity_id)
                if status.stage == "om_review" and status.pending_effects == 0:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{self.opportunity_id} never reached om_review")
            self.ready.set()
            await self.stop.wait()


# ---- report ---------------------------------------------------------------------------------


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpus} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def report(timings: dict[str, Timing], runs: int, load_before: str) -> None:
    help_, check, status, describe = (
        timings["help"],
        timings["check"],
        timings["status"],
        timings["describe"],
    )
    ratio = status.median / describe.median
    print(f"\nmachine: {machine()}")
    print(f"load average (1, 5, 15 min): {load_before} before, {load()} after")
    print(f"medians of {runs} runs, wall time of the whole process\n")
    rows = [
        (help_.label, help_.median, f"<= {HELP_TARGET_SECONDS:.1f} s", help_.median <= 0.3),
        (check.label, check.median, "", None),
        (status.label, status.median, f"<= {STATUS_TARGET_RATIO:.0f}x describe", ratio <= 3),
        (describe.label, describe.median, "", None),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'command':<{width}}  {'median':>8}  {'min':>7}  {'max':>7}  target")
    for (label, median, target, met), timing in zip(rows, timings.values(), strict=True):
        verdict = "" if met is None else ("  met" if met else "  MISSED")
        print(
            f"{label:<{width}}  {median:>7.3f}s  {min(timing.seconds):>6.3f}s  "
            f"{max(timing.seconds):>6.3f}s  {target}{verdict}"
        )
    print(f"\nom status / temporal workflow describe: {ratio:.2f}x (target <= 3x)")


def breakdown(env: dict[str, str], opportunity_id: str, runs: int) -> None:
    """Median seconds of each of `om status`'s steps, each run in a fresh
    interpreter, after the interpreter's own start-up (`python -c pass`)."""
    bare = time_command("python -c pass", [sys.executable, "-c", "pass"], env, runs)
    samples: dict[str, list[float]] = {
        "interpreter start-up and exit (python -c pass)": bare.seconds
    }
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", BREAKDOWN, opportunity_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(f"breakdown failed: {done.stderr}")
        for step, seconds in json.loads(done.stdout).items():
            samples.setdefault(step, []).append(seconds)
    print(f"\nwhere `om status` spends its time (medians of {runs} fresh interpreters):")
    width = max(len(step) for step in samples)
    for step, seconds in samples.items():
        print(f"  {step:<{width}}  {statistics.median(seconds):.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per command (default 10)")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time om status's steps one by one"
    )
    args = parser.parse_args()
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        folder = Path(scratch)
        home = folder / "home"
        home.mkdir()
        local = clean_env(OM_HOME=str(home))
        timings = {
            "help": time_command("om --help", [OM, "--help"], local, args.runs),
            "check": time_command(
                "om check tests/fixtures/opportunity.example.json",
                [OM, "check", str(FIXTURE)],
                local,
                args.runs,
            ),
        }
        print("starting a Temporal dev server and a worker...", flush=True)
        with temporal_server(folder) as address, WorkerThread(address, home) as worker:
            env = clean_env(OM_HOME=str(home), TEMPORAL_ADDRESS=address)
            timings["status"] = time_command(
                "om status ID --json",
                [OM, "status", worker.opportunity_id, "--json"],
                env,
                args.runs,
            )
            timings["describe"] = time_command(
                "temporal workflow describe",
                [
                    temporal_binary(),
                    "workflow",
                    "describe",
                    "--workflow-id",
                    f"opportunity-{worker.opportunity_id}",
                    "--address",
                    address,
                ],
                env,
                args.runs,
            )
            report(timings, args.runs, load_before)
            if args.breakdown:
                breakdown(env, worker.opportunity_id, args.runs)


if __name__ == "__main__":
    main()
