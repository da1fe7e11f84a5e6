"""Benchmark the manager's reports page and the policy simulator.

Targets (docs/performance.md, "Manager's reports"): the reports page for a
quarter of 10,000 decided rounds renders in at most 1 s; a simulation over
100,000 rounds runs in at most 10 s. Beside each, in the same run, the same
figures computed by a straightforward pandas groupby over the same rows, and
a check that both sides agree on them.

What is timed:
* page: `GET /console/reports?period=2026Q4` as the auditor (every region,
  every chart) through the app in-process (Starlette's TestClient, no
  network), the store in SQLite on local disk: reading the rows, every
  figure, 13 pygal charts and the HTML. Best and median of --repeat after
  one warm-up (the first request also builds the calendars).
* pandas (page): `read_sql` of the same rounds and transitions, then the
  weekly SLA share, monthly accuracy, rejections by region and code, Closed
  Won by region and member, first response per region (business hours by
  the same calendar, row by row: pandas has no business calendar), urgent
  submissions per rep and quarter, the open reviews per region. No charts,
  no HTML: the page does strictly more.
* simulation: `om.manager_reports.simulate_rounds` over 100,000 decided
  rounds and their facts, read from a store first (the read is timed
  apart), under a policy changing AMER's SLA and cutoff.
* pandas (simulation): the same rows as a DataFrame, the calendar applied
  row by row (clock start, deadline, business hours), then a groupby per
  region. Both must give the same per-region figures.

Run:  make bench-reports   (or .venv/bin/python benchmarks/bench_reports.py --rounds 10000)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from domain.calendar import calendar_for
from domain.kpi import quarter_period
from domain.models import Region
from domain.simulate import SimulationPolicy
from domain.sla import choose_review_region
from loadtest.reports_data import fill, generate
from om.manager_reports import facts_from_transitions, simulate_rounds
from om.reporting_store import ReportingStore
from om.settings import Settings

POLICY = SimulationPolicy.model_validate(
    {"calendar": {"regions": {"AMER": {"sla_business_hours": 10, "cutoff": "16:00"}}}}
)


CPU: list[float] = []
"""The CPU seconds (all threads of this process) of each `timed` call's
median run, in call order: on a shared machine wall time swings with the
other jobs' load, CPU time much less."""


def timed(work: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(best, median) wall seconds of `repeat` runs, and the last result;
    the CPU seconds of the median run go to CPU."""
    runs, result = [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = work()
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    runs.sort()
    CPU.append(runs[len(runs) // 2][1])
    return runs[0][0], statistics.median(w for w, _ in runs), result


def store_with(folder: Path, n: int, seed: int) -> tuple[str, float]:
    url = f"sqlite:///{folder / f'reporting-{n}.db'}"
    start = time.perf_counter()
    with ReportingStore(url) as store:
        fill(store, *generate(n, seed=seed))
    return url, time.perf_counter() - start


# ---- the page ----------------------------------------------------------------------------


def pandas_page(url: str) -> dict[str, Any]:
    """The page's figures by pandas groupby over the same rows."""
    engine = sa.create_engine(url)
    r = pd.read_sql("SELECT * FROM rounds", engine, parse_dates=["clock_start", "decided_at"])
    t = pd.read_sql(
        "SELECT opportunity_id, round, kind, at, actor, role, data FROM transitions "
        "WHERE kind IN ('submitted', 'rep_action', 'ticket', 'ticket_solved') "
        "OR role = 'order_management' ORDER BY at, id",
        engine,
        parse_dates=["at"],
    )
    engine.dispose()
    t["at"] = pd.to_datetime(t["at"], utc=True)
    zones = {g.value: calendar_for(g).tz for g in Region}
    r["clock_start"] = pd.to_datetime(r["clock_start"], utc=True)
    r["local_day"] = [
        ts.tz_convert(zones[g]).date()
        for ts, g in zip(r["clock_start"], r["home_region"], strict=True)
    ]
    period = quarter_period("2026Q4")
    r = r[(r["local_day"] >= period.start) & (r["local_day"] <= period.end)].copy()
    decided = r[r["outcome"].isin(["approved", "rejected"])].copy()
    days = pd.to_datetime(decided["local_day"])
    decided["week"] = (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.date
    weekly = decided.groupby("week")["sla_met"].agg(["count", "sum"])
    approved = decided[decided["outcome"] == "approved"].copy()
    approved["month"] = pd.to_datetime(approved["local_day"]).dt.strftime("%Y-%m")
    approved["billing_rejected"] = approved["finance_outcome"] == "rejected"
    monthly = approved.groupby("month")["billing_rejected"].agg(["count", "sum"])
    rejected = decided[decided["outcome"] == "rejected"].copy()
    rejected["code"] = rejected["reasons"].map(lambda v: (json.loads(v) or ["UNSPECIFIED"])[0])  # noqa: S307
    by_code = rejected.groupby(["home_region", "code"]).size()
    won = decided[decided["finance_outcome"] == "approved"]
    won_region = won.groupby("home_region").size()
    won_member = won.groupby("decided_by").size()
    submitted = t[t["kind"] == "submitted"].groupby("opportunity_id")["at"].first()
    first_om = t[(t["role"] == "order_management") & (t["kind"] != "update_refused")]
    first_om = first_om.groupby(["opportunity_id", "round"]).first()
    joined = decided.join(submitted.rename("submitted_at"), on="opportunity_id").join(
        first_om["at"].rename("first_at"), on=["opportunity_id", "round"]
    )
    joined = joined.dropna(subset=["first_at"])
    joined["first_hours"] = [
        calendar_for(a or h)
        .business_time_between(s.to_pydatetime(), f.to_pydatetime())
        .total_seconds()
        / 3600
        for a, h, s, f in zip(
            joined["assigned_region"],
            joined["home_region"],
            joined["submitted_at"],
            joined["first_at"],
            strict=True,
        )
    ]
    first_response = joined.groupby("home_region")["first_hours"].mean()
    subs = t[t["kind"] == "submitted"].copy()
    data = subs["data"].map(json.loads)
    subs["urgent"] = data.map(lambda d: bool(d.get("urgent")))
    subs["owner"] = data.map(lambda d: d.get("owner"))
    urgent = subs[subs["urgent"]].merge(r[["opportunity_id", "local_day"]], on="opportunity_id")
    urgent["quarter"] = pd.to_datetime(urgent["local_day"]).dt.quarter
    escalations = urgent.groupby(["owner", "quarter"]).size()
    open_now = r[r["outcome"].isna()].groupby("home_region").size()
    return {
        "weekly_decided": [int(v) for v in weekly["count"]],
        "weekly_within": [int(v) for v in weekly["sum"]],
        "monthly": [
            (m, int(c), int(s))
            for m, c, s in zip(monthly.index, monthly["count"], monthly["sum"], strict=True)
        ],
        "rejections": int(by_code.sum()),
        "won_region": {k: int(v) for k, v in won_region.items()},
        "won_member": {k: int(v) for k, v in won_member.items()},
        "first_response": {k: round(float(v), 6) for k, v in first_response.items()},
        "escalations": int(escalations.sum()),
        "open": {k: int(v) for k, v in open_now.items()},
    }


def page_figures(client: TestClient) -> dict[str, Any]:
    """The same figures from the JSON API (what the page draws)."""
    body = client.get(
        "/reports/kpi?period=2026Q4", headers={"Authorization": "Bearer demo-auditor"}
    ).json()
    return {
        "weekly_decided": [w["decided"] for w in body["weekly_sla"]],
        "weekly_within": [w["within"] for w in body["weekly_sla"]],
        "monthly": [
            (m["month"], m["approvals"], m["billing_rejections"]) for m in body["monthly_accuracy"]
        ],
        "rejections": sum(c["count"] for c in body["rejections_by_region"]),
        "won_region": body["closed_won_by_region"],
        "won_member": body["closed_won_by_member"],
        "first_response": {
            f["group"]: round(f["average_hours"], 6) for f in body["first_response_by_region"]
        },
        "escalations": sum(e["urgent"] for e in body["escalations"]),
        "open": body["workload"]["by_region"],
    }


# ---- the simulation ----------------------------------------------------------------------


def pandas_simulation(
    rounds: list[Any], facts: dict[Any, Any]
) -> dict[str, tuple[int, int, float]]:
    rows = [
        {
            "region": r.home_region.value,
            "submitted_at": facts[(r.opportunity_id, r.round)].submitted_at or r.clock_start,
            "decided_at": r.decided_at,
            "urgent": facts[(r.opportunity_id, r.round)].urgent,
        }
        for r in rounds
        if r.decided
    ]
    df = pd.DataFrame(rows)
    policy = POLICY.calendar

    def one(row: Any) -> tuple[bool, float]:
        home = Region(row.region)
        assigned = (
            choose_review_region(home, row.submitted_at, True, policy)[0] if row.urgent else home
        )
        calendar = calendar_for(assigned, policy)
        start = calendar.clock_start(row.submitted_at)
        deadline = calendar.add_business_hours(start, calendar.sla)
        hours = calendar.business_time_between(start, row.decided_at) / timedelta(hours=1)
        return row.decided_at <= deadline, max(0.0, hours)

    df[["within", "hours"]] = pd.DataFrame([one(row) for row in df.itertuples()], index=df.index)
    grouped = df.groupby("region").agg(
        decided=("within", "size"), within=("within", "sum"), median=("hours", "median")
    )
    return {
        g: (int(v.decided), int(v.within), round(float(v["median"]), 6))
        for g, v in grouped.iterrows()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10_000, help="decided rounds for the page")
    parser.add_argument("--simulated", type=int, default=100_000, help="rounds for the simulation")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.node()}")
    with tempfile.TemporaryDirectory() as folder:
        url, made = store_with(Path(folder), args.rounds, seed=1)
        print(f"store: {args.rounds:,} decided rounds generated and written in {made:.1f} s")
        client = TestClient(create_app(Settings(api_metrics=False, reporting_url=url)))
        client.post("/console/login", data={"token": "demo-auditor"})
        first = time.perf_counter()
        page = client.get("/console/reports?period=2026Q4")
        cold = time.perf_counter() - first
        assert page.status_code == 200 and page.text.count("<svg") == 13, page.status_code
        best, mid, _ = timed(lambda: client.get("/console/reports?period=2026Q4"), args.repeat)
        pbest, pmid, ours_pd = timed(lambda: pandas_page(url), args.repeat)
        ours = page_figures(client)
        agree = ours == ours_pd
        print(
            f"reports page, quarter of {args.rounds:,} rounds: first {cold:.2f} s, "
            f"best {best:.2f} s, median {mid:.2f} s "
            f"(target <= 1 s: {'met' if mid <= 1 else 'MISSED'}); CPU {CPU[-2]:.2f} s"
        )
        print(
            f"  pandas groupby, same figures without charts: best {pbest:.2f} s, "
            f"median {pmid:.2f} s, CPU {CPU[-1]:.2f} s; figures agree: {agree}"
        )
        if not agree:
            for key in ours:
                if ours[key] != ours_pd.get(key):
                    print(f"    {key}: ours {ours[key]} pandas {ours_pd.get(key)}")

        url, made = store_with(Path(folder), args.simulated, seed=2)
        print(f"store: {args.simulated:,} decided rounds generated and written in {made:.1f} s")
        read_start, read_cpu = time.perf_counter(), time.process_time()
        with ReportingStore(url) as store:
            # What `om.manager_reports.simulate_period` reads.
            rounds = store.decided_rounds()
            facts = facts_from_transitions(store.report_transitions(om_actions=False))
        read = time.perf_counter() - read_start
        read_cpu = time.process_time() - read_cpu
        sbest, smid, result = timed(
            lambda: simulate_rounds(rounds, facts, POLICY, "all"), args.repeat
        )
        print(
            f"simulation over {len(rounds):,} rounds: best {sbest:.2f} s, "
            f"median {smid:.2f} s; reading them from the store {read:.2f} s; "
            f"total {read + smid:.2f} s "
            f"(target <= 10 s: {'met' if read + smid <= 10 else 'MISSED'}); "
            f"CPU {CPU[-1]:.2f} s simulating, {read_cpu:.2f} s reading"
        )
        qbest, qmid, theirs = timed(lambda: pandas_simulation(rounds, facts), 1)
        mine = {
            r.region: (
                r.simulated.decided,
                r.simulated.within,
                round(r.simulated.median_hours or 0, 6),
            )
            for r in result.regions
        }
        print(
            f"  pandas (calendar row by row, then groupby): {qmid:.2f} s, CPU {CPU[-1]:.2f} s; "
            f"figures agree: {mine == theirs}"
        )
        for r in result.regions:
            print(
                f"    {r.region}: attainment {r.actual.attainment:.1%} -> "
                f"{r.simulated.attainment:.1%}, "
                f"breaches {r.actual.breaches} -> {r.simulated.breaches}, median "
                f"{r.actual.median_hours:.2f} -> {r.simulated.median_hours:.2f} business h"
            )


if __name__ == "__main__":
    main()
