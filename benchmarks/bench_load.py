"""Load benchmark: the whole approval cycle on one machine (`make bench-load`).

Why: to know the system's figures under load, against the ceiling the same
server allows, and how many waiting opportunities one worker holds. Three
phases on one dev server, sandbox and driver, each with a fresh worker
process of its own so its peak RSS and CPU time are its alone:

1. ours: N opportunities (`--n`, default 1,000) through the full cycle by
   `loadtest.cycle.Driver`, `--concurrency` at a time: submit, the Order
   Management and Billing decisions as Workflow Updates, licenses delivered
   by automation for half and after a Support ticket for the rest. One
   `om worker` process.
2. baseline: the same Driver, concurrency and number of cycles on
   `benchmarks/baseline_workflow.py` (same events, no business logic, no-op
   activities) in its own worker process with the same tuning. Our
   throughput is reported as a share of it, and both histories' events are
   counted by type to show the shapes match.
3. parked: `--parked` (default 10,000) opportunities started and left in
   om_review on one fresh `om worker`: how long starting took, the worker's
   RSS with its cache setting, status queries (evicted workflows replay),
   and `GET /queue` latency from `om api` over them.

Figures per phase: cycles/s, decision Update round trip p50/p95/p99, peak
RSS (VmRSS sampled every 0.25 s; the worker's VmHWM), CPU seconds per cycle
(utime+stime from /proc of worker, server, sandbox and this driver), the
worker's SDK metrics (task schedule-to-start and execution), and the
machine's load average and CPU steal before and after: the development
machine has 2 cores shared with other jobs.

Run:  .venv/bin/python benchmarks/bench_load.py [--n 1000] [--parked 10000]
Writes benchmarks/results/load.json (git-ignored: figures depend on the
machine; docs/performance.md, "Load: the whole cycle on one machine",
carries the ones we quote).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import temporalio  # noqa: E402
from temporalio.client import Client, WorkflowUpdateFailedError  # noqa: E402
from temporalio.service import RPCError, RPCStatusCode  # noqa: E402

import loadtest.cycle as cycle  # noqa: E402
from cli.dev import stop_process  # noqa: E402
from domain.errors import Refused  # noqa: E402
from domain.models import Opportunity, Region  # noqa: E402
from domain.names import APPROVAL_WORKFLOWS_QUERY, approval_workflow_id  # noqa: E402
from loadtest.cycle import Case, Driver, make_cases, run_cycles, seed_cases  # noqa: E402
from loadtest.ports import free_port  # noqa: E402
from loadtest.stack import (  # noqa: E402
    OM_BIN,
    SandboxProcess,
    TemporalServer,
    om_env,
)
from om.approvals import Approvals  # noqa: E402
from om.client import connect  # noqa: E402
from om.settings import Settings  # noqa: E402
from workers.search_attributes import ensure_search_attributes  # noqa: E402

TEMPLATE = ROOT / "tests" / "fixtures" / "opportunity.example.json"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "load.json"
TARGET_RATIO = 0.7
TARGET_WORKER_RSS = 1 << 30
TARGET_QUEUE_P95_MS = 300.0
MiB = 1 << 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Worker SDK metrics worth reading after a phase (histograms: _sum/_count in ms).
HISTOGRAMS = {
    "wft_schedule_to_start_ms": "temporal_workflow_task_schedule_to_start_latency",
    "wft_execution_ms": "temporal_workflow_task_execution_latency",
    "activity_schedule_to_start_ms": "temporal_activity_schedule_to_start_latency",
    "activity_execution_ms": "temporal_activity_execution_latency",
}
BASELINE_WORKER = ROOT / "benchmarks" / "baseline_workflow.py"
API_TOKEN = "demo-om-amer"  # the demo roster's AMER specialist (domain.policy)
# Who lists which queue (GET /queue holds only the rows the caller may read):
# each region's own specialist, and the auditor, who reads every row, for
# all regions.
QUEUE_TOKENS = {region: f"demo-om-{region.value.lower()}" for region in Region}
ALL_REGIONS_TOKEN = "demo-auditor"
# Processes this run started and has not stopped yet, newest last.
RUNNING: list[subprocess.Popen[bytes]] = []


# ---- measuring processes and the machine ---------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    """A `VmRSS` / `VmHWM` line of /proc/<pid>/status, in KiB (0 once gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_cpu() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return total - idle - steal, steal, total


class PeakRss:
    """Samples VmRSS of named processes in a thread; keeps each one's peak."""

    def __init__(self, pids: dict[str, int], every: float = 0.25) -> None:
        self.pids = pids
        self.every = every
        self.peak_kib = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peak_kib[name] = max(self.peak_kib[name], status_kib(pid, "VmRSS"))
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def mib(self) -> dict[str, float]:
        return {name: round(kib / 1024, 1) for name, kib in self.peak_kib.items()}


@dataclass
class Usage:
    """CPU seconds per process, machine busy/steal share and load average over
    a stretch of the run."""

    pids: dict[str, int]
    start_cpu: dict[str, float] = field(default_factory=dict)
    start_machine: tuple[int, int, int] = (0, 0, 0)
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    started: float = 0.0

    def begin(self) -> Usage:
        self.start_cpu = {name: self._cpu(pid) for name, pid in self.pids.items()}
        self.start_machine = machine_cpu()
        self.load_start = os.getloadavg()
        self.started = time.perf_counter()
        return self

    @staticmethod
    def _cpu(pid: int) -> float:
        if pid == os.getpid():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        return cpu_seconds(pid)

    def end(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.started
        cpu = {name: self._cpu(pid) - self.start_cpu[name] for name, pid in self.pids.items()}
        busy, steal, total = (b - a for a, b in zip(self.start_machine, machine_cpu(), strict=True))
        return {
            "seconds": round(seconds, 2),
            "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
            "cpu_share": {k: round(v / seconds, 2) for k, v in cpu.items()},
            "machine_busy_share": round(busy / total, 3) if total else None,
            "machine_steal_share": round(steal / total, 3) if total else None,
            "load_average_start": [round(x, 2) for x in self.load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest rank)."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "count": 0}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "p50_ms": rank(0.50),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": round(ordered[-1] * 1000, 1),
        "count": len(ordered),
    }


def scrape_metrics(bind: str) -> dict[str, float]:
    """The worker's SDK metrics summed over their labels (histograms as
    `_sum` / `_count` in ms, the cache size gauge)."""
    try:
        text = httpx.get(f"http://{bind}/metrics", timeout=10).text
    except httpx.HTTPError:
        return {}
    sums: defaultdict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        sums[name_labels.split("{", 1)[0]] += float(value)
    return dict(sums)


def metric_averages(raw: Mapping[str, float]) -> dict[str, Any]:
    """Average latencies of the histograms in HISTOGRAMS, and the cache."""
    out: dict[str, Any] = {}
    for label, metric in HISTOGRAMS.items():
        count = raw.get(metric + "_count", 0.0)
        out[label] = round(raw.get(metric + "_sum", 0.0) / count, 1) if count else None
        out[label.replace("_ms", "_count")] = int(count)
    out["sticky_cache_size"] = raw.get("temporal_sticky_cache_size")
    out["sticky_cache_forced_evictions"] = raw.get("temporal_sticky_cache_total_forced_eviction")
    return out


# ---- the baseline seen through the Driver's eyes ----------------------------------------


@dataclass
class BaselineStatus:
    stage: str
    round: int
    pending_effects: int


class BaselineApprovals:
    """What `loadtest.cycle.Driver` calls on `Approvals`, for the baseline
    workflow: the same client calls (describe + start, query, Update with
    an id), none of our code."""

    def __init__(self, client: Client, task_queue: str, recheck_seconds: float) -> None:
        self.client = client
        self.task_queue = task_queue
        self.recheck_seconds = recheck_seconds
        self.delivered: dict[str, bool] = {}
        self.queries = 0

    def _id(self, opportunity_id: str) -> str:
        return f"baseline-{opportunity_id}"

    async def submit(self, opportunity: Opportunity) -> tuple[str, bool]:
        from temporalio.common import WorkflowIDConflictPolicy

        workflow_id = self._id(opportunity.id)
        try:
            await self.client.get_workflow_handle(workflow_id).describe()
            return workflow_id, False
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        await self.client.start_workflow(
            "BaselineCycleWorkflow",
            {
                "opportunity": opportunity.model_dump(mode="json"),
                "delivered": self.delivered[opportunity.id],
                "recheck_seconds": self.recheck_seconds,
            },
            id=workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return workflow_id, True

    async def status(self, opportunity_id: str) -> BaselineStatus:
        self.queries += 1
        raw = await self.client.get_workflow_handle(self._id(opportunity_id)).query("status")
        return BaselineStatus(raw["stage"], raw["round"], raw["pending_effects"])

    async def decide(
        self,
        opportunity_id: str,
        actor_email: str,
        stage: str,
        action: str,
        reasons: list[str] | None = None,
        comment: str = "",
        round_: int | None = None,
        update_id: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        decision = {
            "actor": actor_email,
            "stage": stage,
            "action": action,
            "reasons": reasons or [],
            "comment": comment,
            "round": round_,
        }
        try:
            receipt: dict[str, Any] = await self.client.get_workflow_handle(
                self._id(opportunity_id)
            ).execute_update("decide", decision, id=update_id)
            return receipt
        except WorkflowUpdateFailedError as exc:
            raise Refused(f"refused: {exc.cause}", "conflict") from exc

    async def rep_action(self, *_: Any, **__: Any) -> Any:
        raise NotImplementedError("the benchmark sends no rejections")


class NoSandbox:
    """The baseline's license "delivery": its check activity reports it."""

    def deliver_license(self, opportunity_id: str) -> dict[str, Any]:
        return {"id": opportunity_id}


# ---- the stack --------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    home: Path
    temporal: TemporalServer
    sandbox: SandboxProcess
    settings: Settings
    client: Client
    admin: Any
    template: dict[str, Any]
    env: dict[str, str]

    def worker_env(self, task_queue: str) -> tuple[dict[str, str], str]:
        bind = f"127.0.0.1:{free_port()}"
        return {**self.env, "OM_TASK_QUEUE": task_queue, "OM_METRICS_BIND": bind}, bind

    @contextmanager
    def process(self, name: str, argv: list[str], env: dict[str, str]) -> Iterator[int]:
        """A worker or API process for the length of a phase; yields its pid."""
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=(self.home / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        RUNNING.append(proc)
        try:
            yield proc.pid
        finally:
            stop_process(proc)
            RUNNING.remove(proc)

    def pids(self, worker: int) -> dict[str, int]:
        assert self.temporal.process and self.sandbox.process
        return {
            "worker": worker,
            "server": self.temporal.process.pid,
            "sandbox": self.sandbox.process.pid,
            "driver": os.getpid(),
        }


def history_shape(events: Sequence[Any]) -> dict[str, int]:
    counts = Counter(e.WhichOneof("attributes").removesuffix("_event_attributes") for e in events)
    return {"total": len(events), **dict(sorted(counts.items()))}


async def shapes(client: Client, ids: dict[str, str]) -> dict[str, dict[str, int]]:
    out = {}
    for label, workflow_id in ids.items():
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        out[label] = history_shape(history.events)
    return out


class CountingApprovals(Approvals):
    """Our `Approvals`, counting the status queries the driver sends."""

    queries = 0

    async def status(self, opportunity_id: str) -> Any:
        self.queries += 1
        return await super().status(opportunity_id)


@dataclass
class Side:
    """One of the two workflows the cycle phase compares."""

    label: str
    argv: list[str]
    task_queue: str
    approvals: CountingApprovals | BaselineApprovals
    admin: Any
    prefix: str
    workflow_id: Callable[[str], str]
    env: dict[str, str] = field(default_factory=dict)  # extra worker environment
    rounds: list[dict[str, Any]] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


async def cycle_round(bench: Bench, side: Side, n: int) -> None:
    """`n` timed cycles of `side` on a fresh worker process, after `--warmup`
    untimed ones (worker start-up, connections)."""
    args = bench.args
    warmup = make_cases(args.warmup, bench.template, prefix=side.prefix[:-1] + "W")
    cases = make_cases(n, bench.template, prefix=side.prefix)
    if isinstance(side.approvals, BaselineApprovals):
        side.approvals.delivered.update({c.id: c.delivered for c in [*warmup, *cases]})
    else:
        await asyncio.to_thread(seed_cases, bench.admin, [*warmup, *cases])
    env, bind = bench.worker_env(side.task_queue)
    env.update(side.env)
    with bench.process(f"worker-{side.label}", side.argv, env) as worker:
        await run_cycles(Driver(side.approvals, side.admin), warmup, args.concurrency)
        driver = Driver(side.approvals, side.admin)
        queries_before = side.approvals.queries
        metrics_before = scrape_metrics(bind)
        usage = Usage(bench.pids(worker)).begin()
        with PeakRss({"worker": worker, "server": usage.pids["server"]}) as peaks:
            report = await run_cycles(driver, cases, args.concurrency)
        measured = usage.end()
        metrics = Counter(scrape_metrics(bind))
        metrics.subtract(metrics_before)
        measured.update(
            cycles=n,
            latencies=report.decision_latencies,
            queries=side.approvals.queries - queries_before,
            peak_rss_mib=peaks.mib(),
            worker_vmhwm_mib=round(status_kib(worker, "VmHWM") / 1024, 1),
            metrics=dict(metrics),
            cache_size=scrape_metrics(bind).get("temporal_sticky_cache_size"),
        )
    side.rounds.append(measured)
    side.cases += cases
    print(
        f"  {side.label}: {n} cycles in {measured['seconds']} s "
        f"({n / measured['seconds']:.2f}/s), load average {measured['load_average_end'][0]}",
        flush=True,
    )


def combine(side: Side) -> dict[str, Any]:
    """One side's rounds as one result: sums, peaks, pooled latencies."""
    rounds = side.rounds
    cycles = sum(r["cycles"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    cpu: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    for r in rounds:
        cpu.update(r["cpu_seconds"])
        metrics.update(r["metrics"])
    latencies = [x for r in rounds for x in r["latencies"]]
    return {
        "cycles": cycles,
        "concurrency": None,
        "rounds": len(rounds),
        "seconds": round(seconds, 2),
        "cycles_per_second": round(cycles / seconds, 3),
        "decision_update": percentiles(latencies),
        "status_queries_per_cycle": round(sum(r["queries"] for r in rounds) / cycles, 1),
        "refused_decisions": sum(c.refused for c in side.cases),
        "not_completed": sum(c.final_stage != "completed" for c in side.cases),
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_seconds_per_cycle": {
            "worker+server": round((cpu["worker"] + cpu["server"]) / cycles, 4),
            **{k: round(v / cycles, 4) for k, v in cpu.items()},
        },
        "cpu_share": {k: round(v / seconds, 2) for k, v in cpu.items()},
        "peak_rss_mib": {
            name: max(r["peak_rss_mib"][name] for r in rounds) for name in ("worker", "server")
        },
        "worker_vmhwm_mib": max(r["worker_vmhwm_mib"] for r in rounds),
        "worker_metrics": {
            **metric_averages(metrics),
            # A gauge: the size at the end of each round, not a difference.
            "sticky_cache_size": max(r["cache_size"] or 0 for r in rounds),
        },
        "machine_busy_share": round(
            sum(r["machine_busy_share"] * r["seconds"] for r in rounds) / seconds, 3
        ),
        "machine_steal_share": round(
            sum(r["machine_steal_share"] * r["seconds"] for r in rounds) / seconds, 3
        ),
        "load_average_per_round": [
            [r["load_average_start"], r["load_average_end"]] for r in rounds
        ],
    }


async def phase_cycles(bench: Bench, sides: list[Side]) -> None:
    """`--rounds` rounds of N / rounds cycles per side, the order alternating
    (A B B A ...) so a machine getting busier or quieter biases neither."""
    args = bench.args
    sizes = [args.n // args.rounds + (i < args.n % args.rounds) for i in range(args.rounds)]
    for i, size in enumerate(sizes):
        for side in sides if i % 2 == 0 else sides[::-1]:
            await cycle_round(bench, side, size)


async def side_result(bench: Bench, side: Side) -> dict[str, Any]:
    result = combine(side)
    result["concurrency"] = bench.args.concurrency
    if side.label == "ours" and bench.args.check_side_effects:
        problems = await asyncio.to_thread(cycle.side_effect_problems, bench.admin, side.cases)
        result["side_effect_problems"] = len(problems)
        result["side_effect_examples"] = problems[:5]
    delivered = next(c for c in side.cases if c.delivered)
    ticketed = next((c for c in side.cases if not c.delivered), delivered)
    result["history_events"] = await shapes(
        bench.client,
        {"delivered": side.workflow_id(delivered.id), "ticket": side.workflow_id(ticketed.id)},
    )
    wm = result["worker_metrics"]
    print(
        f"  {side.label}: {result['cycles_per_second']} cycles/s, decision p50 "
        f"{result['decision_update']['p50_ms']} ms, "
        f"{result['cpu_seconds_per_cycle']['worker+server']} CPU s/cycle (worker+server), "
        f"WFT schedule-to-start {wm['wft_schedule_to_start_ms']} ms",
        flush=True,
    )
    return result


def make_sides(bench: Bench) -> list[Side]:
    args = bench.args
    baseline_queue = f"baseline-{bench.settings.task_queue}"
    baseline = BaselineApprovals(bench.client, baseline_queue, args.recheck_seconds)
    return [
        Side(
            "ours",
            [OM_BIN, "worker"],
            bench.settings.task_queue,
            CountingApprovals(bench.client, bench.settings),
            bench.admin,
            "006L",
            approval_workflow_id,
        ),
        Side(
            "baseline",
            [sys.executable, str(BASELINE_WORKER)],
            baseline_queue,
            baseline,
            NoSandbox(),
            "006B",
            baseline._id,
        ),
    ]


def parked_cases(bench: Bench, n: int) -> list[Case]:
    """Opportunities spread over the three regions, as a quarter's queue is."""
    cases = make_cases(n, bench.template, prefix="006P")
    regions = list(Region)
    for i, case in enumerate(cases):
        opp = case.opportunity
        account = opp.account.model_copy(update={"region": regions[i % len(regions)]})
        case.opportunity = opp.model_copy(update={"account": account})
    return cases


async def bounded(calls: Sequence[Callable[[], Awaitable[Any]]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await cycle.retrying(call)

    await asyncio.gather(*(one(c) for c in calls))


async def count_parked(client: Client) -> int:
    """Running approvals waiting in om_review (only the parked phase leaves any)."""
    query = f"{APPROVAL_WORKFLOWS_QUERY} AND ExecutionStatus='Running' AND OmStage='om_review'"
    return (await client.count_workflows(query)).count


async def phase_parked(bench: Bench) -> dict[str, Any]:
    args = bench.args
    cases = parked_cases(bench, args.parked)
    result: dict[str, Any] = {"opportunities": len(cases)}
    started = time.perf_counter()
    await asyncio.to_thread(seed_cases, bench.admin, cases)
    result["seed_seconds"] = round(time.perf_counter() - started, 1)
    env, bind = bench.worker_env(bench.settings.task_queue)
    with bench.process("worker-parked", [OM_BIN, "worker"], env) as worker:
        approvals = Approvals(bench.client, bench.settings)
        usage = Usage(bench.pids(worker)).begin()
        with PeakRss({"worker": worker, "server": usage.pids["server"]}) as peaks:
            started = time.perf_counter()
            await bounded(
                [partial(approvals.submit, c.opportunity) for c in cases],
                args.start_concurrency,
            )
            result["start_seconds"] = round(time.perf_counter() - started, 1)
            print(f"  parked: {len(cases)} started in {result['start_seconds']} s", flush=True)
            deadline = time.monotonic() + args.park_timeout
            parked = 0
            while time.monotonic() < deadline:
                parked = await count_parked(bench.client)
                if parked >= len(cases):
                    break
                await asyncio.sleep(2)
            result["parked"] = parked
            result["parked_seconds"] = round(time.perf_counter() - started, 1)
            print(f"  parked: {parked} in om_review after {result['parked_seconds']} s", flush=True)
            await asyncio.sleep(3)  # let the last tasks and the cache settle
        result.update(usage.end())
        result["peak_rss_mib"] = peaks.mib()
        result["worker_rss_mib"] = round(status_kib(worker, "VmRSS") / 1024, 1)
        result["worker_vmhwm_mib"] = round(status_kib(worker, "VmHWM") / 1024, 1)
        result["max_cached_workflows"] = bench.settings.worker.max_cached_workflows
        # Status of random parked opportunities: most are out of the cache
        # and replay from history on the query.
        sample = random.Random(8).sample(cases, min(args.queue_requests, len(cases)))
        latencies = []
        for case in sample:
            t0 = time.perf_counter()
            await cycle.retrying(partial(approvals.status, case.id))
            latencies.append(time.perf_counter() - t0)
        result["status_query"] = percentiles(latencies)
        result["worker_metrics"] = metric_averages(scrape_metrics(bind))
        result["worker_rss_after_queries_mib"] = round(status_kib(worker, "VmRSS") / 1024, 1)
        result["queue"] = await time_queue(bench, args.queue_requests, args.queue_spread)
    return result


async def time_queue(bench: Bench, requests: int, spread: float) -> dict[str, Any]:
    """`GET /queue` from a fresh `om api` process: each region's queue and all
    regions (the promise is p95 <= 300 ms per region with 10,000 parked)."""
    port = free_port()
    env = {k: v for k, v in bench.env.items() if k != "OM_METRICS_BIND"}
    # Any secret will do: the benchmark signs no one into the console.
    env["OM_CONSOLE_SECRET"] = secrets.token_urlsafe(32)
    argv = [OM_BIN, "api", "--host", "127.0.0.1", "--port", str(port)]
    out: dict[str, Any] = {}
    with bench.process("api", argv, env):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=120
        ) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"om api did not start; see {bench.home / 'api.log'}")
                await asyncio.sleep(0.3)
            # The API serves one shared listing, listed at most every
            # `queue_cache_seconds`: the first request waits for a listing
            # ("cold"); the others are spread over `spread` seconds so
            # background refreshes run among them, as with people reading.
            spacing = spread / max(1, requests)
            regions = [
                (f"region_{r.value.lower()}", {"region": r.value}, QUEUE_TOKENS[r]) for r in Region
            ]
            for label, params, token in [*regions, ("all_regions", {}, ALL_REGIONS_TOKEN)]:
                latencies, rows, size, cold = [], 0, 0, None
                who = {"Authorization": f"Bearer {token}"}
                for _ in range(requests + 1):
                    t0 = time.perf_counter()
                    response = await http.get("/queue", params=params, headers=who)
                    elapsed = time.perf_counter() - t0
                    response.raise_for_status()
                    rows, size = len(response.json()), len(response.content)
                    if cold is None:
                        cold = elapsed
                    else:
                        latencies.append(elapsed)
                    await asyncio.sleep(spacing)
                out[label] = {
                    "rows": rows,
                    "bytes": size,
                    "cold_ms": round((cold or 0) * 1000, 1),
                    **percentiles(latencies),
                }
                print(
                    f"  GET /queue {label}: {rows} rows, cold {out[label]['cold_ms']} ms, "
                    f"then p95 {out[label]['p95_ms']} ms",
                    flush=True,
                )
    return out


# ---- reporting --------------------------------------------------------------------------


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, ours, baseline, ours/baseline or target) rows for the table."""
    rows: list[tuple[str, str, str, str]] = []
    ours, base = results.get("ours"), results.get("baseline")
    if ours:
        b = base or {}

        def both(name: str, get: Callable[[dict[str, Any]], Any], ratio: bool = False) -> None:
            a = get(ours)
            z = get(b) if b else None
            r = f"{a / z:.2f}" if ratio and a and z else ""
            rows.append((name, str(a), "" if z is None else str(z), r))

        both("completed cycles/s", lambda r: r["cycles_per_second"], ratio=True)
        for p in ("p50_ms", "p95_ms", "p99_ms"):

            def update_percentile(r: dict[str, Any], p: str = p) -> Any:
                return r["decision_update"][p]

            both(f"decision Update {p}", update_percentile, ratio=True)
        both(
            "CPU s/cycle worker+server", lambda r: r["cpu_seconds_per_cycle"]["worker+server"], True
        )
        both("CPU s/cycle worker", lambda r: r["cpu_seconds_per_cycle"]["worker"], True)
        both("CPU s/cycle server", lambda r: r["cpu_seconds_per_cycle"]["server"], True)
        both("CPU s/cycle sandbox", lambda r: r["cpu_seconds_per_cycle"]["sandbox"])
        both("CPU s/cycle driver", lambda r: r["cpu_seconds_per_cycle"]["driver"], True)
        both("peak RSS worker MiB", lambda r: r["peak_rss_mib"]["worker"])
        both("peak RSS server MiB", lambda r: r["peak_rss_mib"]["server"])
        both(
            "WFT schedule-to-start avg ms",
            lambda r: r["worker_metrics"]["wft_schedule_to_start_ms"],
        )
        both("WFT execution avg ms", lambda r: r["worker_metrics"]["wft_execution_ms"])
        both("status queries per cycle (driver)", lambda r: r["status_queries_per_cycle"], True)
        both("history events delivered", lambda r: r["history_events"]["delivered"]["total"])
        both("history events ticket", lambda r: r["history_events"]["ticket"]["total"])
        both(
            "machine busy / steal",
            lambda r: f"{r['machine_busy_share']}/{r['machine_steal_share']}",
        )
        if ours and base:
            ratio = ours["cycles_per_second"] / base["cycles_per_second"]
            rows.append(
                ("throughput ours/baseline", f"{ratio:.2f}", "", f"target >= {TARGET_RATIO}")
            )
    parked = results.get("parked")
    if parked:
        q = parked["queue"]
        rows += [
            ("parked opportunities", str(parked["parked"]), "", f"of {parked['opportunities']}"),
            (
                "parked: start s / in om_review s",
                f"{parked['start_seconds']} / {parked['parked_seconds']}",
                "",
                "",
            ),
            (
                "parked: worker RSS MiB (peak)",
                f"{parked['worker_rss_mib']} ({parked['worker_vmhwm_mib']})",
                "",
                "target < 1024",
            ),
            ("parked: max_cached_workflows", str(parked["max_cached_workflows"]), "", ""),
            ("parked: status query p95 ms", str(parked["status_query"]["p95_ms"]), "", ""),
            (
                "GET /queue first request ms (waits for the listing)",
                str(q["region_amer"]["cold_ms"]),
                "",
                "",
            ),
            *(
                (
                    f"GET /queue?region={r.value} p95 ms ({q[key]['rows']} rows)",
                    str(q[key]["p95_ms"]),
                    "",
                    f"target < {TARGET_QUEUE_P95_MS:g}",
                )
                for r in Region
                if (key := f"region_{r.value.lower()}") in q
            ),
            (
                f"GET /queue all regions p95 ms ({q['all_regions']['rows']} rows)",
                str(q["all_regions"]["p95_ms"]),
                "",
                "",
            ),
        ]
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [
        max(len(r[i]) for r in [("figure", "ours", "baseline", "ratio"), *rows]) for i in range(4)
    ]
    for row in [("figure", "ours", "baseline", "ratio / target"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# ---- main -------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cycle.POLL_SECONDS = args.poll_seconds
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    results: dict[str, Any] = {
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "temporalio": temporalio.__version__,
        },
        "config": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    temporal = TemporalServer(home / "temporal", extra_args=args.server_arg)
    sandbox = SandboxProcess(home / "om")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stop_everything, temporal, sandbox, home)
    temporal.start()
    try:
        admin = sandbox.start()
        env = om_env(
            temporal.address,
            sandbox.home,
            OM_LOG_LEVEL="WARNING",
            OM_LICENSE_RECHECK_INTERVAL=f"{args.recheck_seconds}s",
        )
        for item in args.worker_env:
            key, _, value = item.partition("=")
            env[key] = value
        settings = Settings(
            home=sandbox.home,
            temporal_address=temporal.address,
            task_queue=env["OM_TASK_QUEUE"],
            license_recheck_interval=timedelta(seconds=args.recheck_seconds),
            cover_business_days=0,
            **_worker_setting(env),
        )
        results["config"]["worker"] = settings.worker.model_dump()
        client = await connect(settings, serve_metrics=False)
        await ensure_search_attributes(client)
        bench = Bench(
            args,
            home,
            temporal,
            sandbox,
            settings,
            client,
            admin,
            json.loads(TEMPLATE.read_text()),
            env,
        )
        sides = [s for s in make_sides(bench) if s.label in args.phases]
        if sides:
            print(
                f"cycles: {args.n} per side, {args.concurrency} at a time, "
                f"{args.rounds} alternating rounds",
                flush=True,
            )
            await phase_cycles(bench, sides)
            for side in sides:
                results[side.label] = await side_result(bench, side)
        if results.get("ours") and results.get("baseline"):
            results["throughput_ratio"] = round(
                results["ours"]["cycles_per_second"] / results["baseline"]["cycles_per_second"], 3
            )
            results["same_history_shape"] = (
                results["ours"]["history_events"] == results["baseline"]["history_events"]
            )
        if "parked" in args.phases and args.parked:
            print(f"parked: {args.parked} opportunities", flush=True)
            results["parked"] = await phase_parked(bench)
    finally:
        sandbox.stop()
        temporal.stop()
        results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"state and logs kept in {home}")
    return results


def _stop_everything(temporal: TemporalServer, sandbox: SandboxProcess, home: Path) -> None:
    """Ctrl-C / SIGTERM: the driver's retries outlive a cancellation, so stop
    every process we started (workers first, the server last) and leave."""
    print("\ninterrupted: stopping workers, sandbox and server", file=sys.stderr, flush=True)
    for proc in reversed(RUNNING):
        stop_process(proc)
    sandbox.stop()
    temporal.stop()
    shutil.rmtree(home, ignore_errors=True)
    os._exit(130)


def _worker_setting(env: dict[str, str]) -> dict[str, Any]:
    """The `worker` tuning the worker processes will read from `env`."""
    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("OM_WORKER__")})
        return {"worker": Settings().worker}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="cycles per run (ours, baseline)")
    parser.add_argument("--concurrency", type=int, default=100, help="cycles in flight at once")
    parser.add_argument("--warmup", type=int, default=20, help="untimed cycles per worker start")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds per side (A B B A ...)"
    )
    parser.add_argument("--parked", type=int, default=10_000, help="opportunities to park")
    parser.add_argument("--start-concurrency", type=int, default=64)
    parser.add_argument("--park-timeout", type=float, default=1800.0)
    parser.add_argument("--queue-requests", type=int, default=50)
    parser.add_argument(
        "--queue-spread",
        type=float,
        default=20.0,
        help="seconds the queue requests are spread over (the API lists every 5 s)",
    )
    parser.add_argument("--recheck-seconds", type=float, default=2.0)
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=float(os.environ.get("OM_LOAD_POLL_SECONDS", "1.0")),
        help="the driver's status polling interval (backs off to 4x)",
    )
    parser.add_argument("--phases", default="ours,baseline,parked", type=lambda s: s.split(","))
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of both worker processes, e.g. OM_WORKER__MAX_CACHED_WORKFLOWS=500",
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="extra `temporal server start-dev` args"
    )
    parser.add_argument("--no-side-effect-check", dest="check_side_effects", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the state folder and logs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(
        f"machine: {results['machine']['cores']} cores; load average "
        f"{results['load_average_start']} at start, {results['load_average_end']} at end"
    )
    print_table(summary_rows(results))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
