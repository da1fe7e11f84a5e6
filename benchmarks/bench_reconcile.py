"""Benchmark renewal / subscription reconciliation against DuckDB.

Why: the weekly reconciliation must stay cheap at the scale of the whole
customer base; the target is one million subscriptions reconciled in under
3 s with under 1 GB of added peak memory on 2 cores, growing linearly, and
faster end to end than DuckDB fed the same Python objects (figures:
docs/performance.md, "Renewal reconciliation"). This script builds
subscriptions and renewals carrying every discrepancy kind (and the passing
side of every rule: exactly one cent of ARR difference, contract resets,
closed renewals, marked duplicates, renewals of cancelled subscriptions),
times `domain.reconciliation.reconcile` on them, measures the memory it adds,
and in the same run loads the same objects into DuckDB and runs the same
reconciliation as one SQL statement, messages included. The two reports must
be identical row for row; the counts per code are printed side by side.

Run:  .venv/bin/python benchmarks/bench_reconcile.py [--sizes 10000,100000,1000000]
DuckDB is optional: `pip install -e '.[bench]'` (duckdb, pandas). Without it
the DuckDB columns are skipped with a message, never a crash.

How each side is measured:
* ours: `reconcile(subscriptions, renewals)` with the objects already built,
  gc enabled as in production, best of --repeat runs. Added peak memory is
  measured twice, in runs of their own: tracemalloc's peak (Python
  allocations only) and the peak RSS growth (Linux: peak reset through
  /proc/self/clear_refs before the call).
* DuckDB: load = reading the attributes of the same objects into columns,
  a pandas DataFrame per table and CREATE TABLE from it (DuckDB's usual way
  in from Python objects); query = one CREATE TABLE AS over the SQL below,
  which materialises the sorted report. Both best of --repeat, with DuckDB's
  default thread count (all cores), i.e. DuckDB runs parallel, we do not.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.reconciliation import (  # noqa: E402
    ARR_TOLERANCE,
    DiscrepancyCode,
    RenewalOpportunity,
    Subscription,
    reconcile,
)

TARGET_S_AT_1M = 3.0
TARGET_ADDED_BYTES = 1 << 30
MiB = 1 << 20

# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

# Per-subscription scenarios and their weights. Every discrepancy code is
# produced by at least one, and every rule's passing side by another.
SCENARIOS: list[tuple[str, float]] = [
    ("clean", 0.74),  # one open renewal, ARR and start date match
    ("cent", 0.02),  # ARR basis exactly 0.01 away: passes
    ("closed_won", 0.03),  # renewed already, values differ: not checked
    ("none", 0.04),  # no renewal: MISSING if Active
    ("arr", 0.03),  # ARR_BASIS_MISMATCH
    ("arr_null", 0.005),  # ARR basis empty: ARR_BASIS_MISMATCH
    ("start", 0.03),  # START_DATE_MISMATCH
    ("both", 0.01),  # ARR and START on the same renewal
    ("dup_open", 0.02),  # two or three open ones, with created_at ties
    ("dup_closed", 0.02),  # a closed (won or lost) one plus open ones
    ("dup_mismatch", 0.01),  # duplicates and the kept open one mismatches
    ("marked", 0.01),  # kept one plus one already marked duplicate
    ("only_marked", 0.005),  # only a marked duplicate: MISSING if Active
]
STATUSES = [("Active", 0.85), ("Cancelled", 0.10), ("Expired", 0.05)]
RESET_RATE = 0.03
ORPHAN_RATE = 0.03  # extra renewals per subscription with no or an unknown subscription


def _picker(rng: random.Random, weighted: list[tuple[str, float]]) -> Callable[[], str]:
    names = [n for n, _ in weighted]
    cum: list[float] = []
    total = 0.0
    for _, w in weighted:
        total += w
        cum.append(total)
    choices = rng.choices

    def pick() -> str:
        return choices(names, cum_weights=cum)[0]

    return pick


def build(n: int, seed: int) -> tuple[list[Subscription], list[RenewalOpportunity], Counter[str]]:
    """n subscriptions and their renewals in random order, plus the scenario mix."""
    rng = random.Random(seed)
    scenario = _picker(rng, SCENARIOS)
    status = _picker(rng, STATUSES)
    ends = [date(2026, 1, 1) + timedelta(days=d) for d in range(730)]
    created = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=7 * k) for k in range(50_000)]
    subs: list[Subscription] = []
    specs: list[tuple[Any, ...]] = []
    mix: Counter[str] = Counter()
    next_opp = 0

    def opp(
        account: str,
        sid: str | None,
        arr: float | None,
        start: date | None,
        *,
        closed: bool = False,
        won: bool = False,
        at: datetime | None = None,
        marked: bool = False,
    ) -> None:
        nonlocal next_opp
        next_opp += 1
        specs.append(
            (
                next_opp,
                account,
                sid,
                closed,
                won,
                arr,
                start,
                at if at is not None else rng.choice(created),
                marked,
            )
        )

    order = list(range(n))
    rng.shuffle(order)
    for i in order:
        sid = f"a1S{i:012d}"
        account = f"001{i // 3:012d}"
        end = rng.choice(ends)
        carr = round(rng.uniform(1_000, 500_000), 2)
        st = status()
        subs.append(Subscription(sid, account, st, end, carr, rng.random() < RESET_RATE))
        kind = scenario()
        mix[kind] += 1
        if kind == "clean":
            opp(account, sid, carr, end)
        elif kind == "cent":
            opp(account, sid, round(carr + rng.choice((-ARR_TOLERANCE, ARR_TOLERANCE)), 2), end)
        elif kind == "closed_won":
            opp(account, sid, carr * 0.9, end - timedelta(days=3), closed=True, won=True)
        elif kind == "arr":
            opp(account, sid, round(carr * rng.uniform(0.5, 1.5) + 0.02, 2), end)
        elif kind == "arr_null":
            opp(account, sid, None, end)
        elif kind == "start":
            opp(account, sid, carr, rng.choice((None, end + timedelta(days=rng.randint(-60, 60)))))
        elif kind == "both":
            opp(account, sid, carr + 100.0, end + timedelta(days=1))
        elif kind in ("dup_open", "dup_closed", "dup_mismatch"):
            tie = rng.choice(created)
            for k in range(rng.randint(2, 3)):
                closed = kind == "dup_closed" and k == 0
                won = closed and rng.random() < 0.5
                bad = kind == "dup_mismatch"
                opp(
                    account,
                    sid,
                    carr + (50.0 if bad else 0.0),
                    end + timedelta(days=2) if bad else end,
                    closed=closed,
                    won=won,
                    at=tie if rng.random() < 0.5 else None,
                )
        elif kind == "marked":
            opp(account, sid, carr, end)
            opp(account, rng.choice((sid, None)), carr, end, marked=True)
        elif kind == "only_marked":
            opp(account, sid, carr, end, marked=True)
    for k in range(int(n * ORPHAN_RATE)):
        account = f"001{rng.randrange(max(1, n // 3)):012d}"
        roll = rng.random()
        if roll < 0.5:
            opp(account, None, 10_000.0, ends[0])  # open, unlinked: ORPHAN
        elif roll < 0.75:
            opp(account, f"a1Sgone{k:08d}", 10_000.0, ends[0])  # open, unknown: ORPHAN
        elif roll < 0.9:
            opp(account, None, 10_000.0, ends[0], closed=True)  # closed: history, passes
        else:
            opp(account, None, 10_000.0, ends[0], marked=True)  # marked: ignored
    # Renewals arrive in an order unrelated to the subscriptions. They are
    # built after shuffling, as a streamed read would build them, and with
    # their own id strings: Salesforce sends the subscription id again in
    # each renewal row, equal to but not the same object as the one in the
    # subscription row (so the join compares strings, as it would live).
    rng.shuffle(specs)
    rens = [
        RenewalOpportunity(f"006{k:012d}", account, None if sid is None else "".join(sid), *rest)
        for k, account, sid, *rest in specs
    ]
    return subs, rens, mix


# --------------------------------------------------------------------------
# Measuring ours
# --------------------------------------------------------------------------


def _rss_bytes(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def added_peak_tracemalloc(fn: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


def added_peak_rss(fn: Callable[[], Any]) -> int | None:
    gc.collect()
    before = _rss_bytes("VmRSS")
    if before is None or not _reset_peak_rss():
        return None
    result = fn()
    peak = _rss_bytes("VmHWM")
    del result
    return None if peak is None else max(0, peak - before)


# --------------------------------------------------------------------------
# DuckDB reference
# --------------------------------------------------------------------------

# The same rules as domain/reconciliation.py, messages included, so the two
# reports can be compared row for row.
SQL = f"""
CREATE OR REPLACE TABLE report AS
WITH live AS (
    SELECT * FROM renewals WHERE NOT marked_duplicate
),
linked AS (
    SELECT l.*, s.carr, s.current_term_end_date AS term_end, s.contract_reset,
           row_number() OVER w AS rn,
           first_value(l.id) OVER w AS kept_id,
           first_value(l.is_won) OVER w AS kept_won,
           first_value(l.is_closed) OVER w AS kept_closed,
           first_value(l.created_at) OVER w AS kept_created
    FROM live l JOIN subscriptions s ON s.id = l.subscription_id
    WINDOW w AS (PARTITION BY l.subscription_id
                 ORDER BY l.is_won DESC, l.is_closed DESC, l.created_at, l.id)
),
kept_open AS (
    SELECT * FROM linked WHERE rn = 1 AND NOT is_closed AND NOT contract_reset
)
SELECT 'MISSING_RENEWAL' AS code, s.id AS subscription_id, NULL::VARCHAR AS opportunity_id,
       format('Active subscription {{}} (account {{}}) has no renewal opportunity; it needs '
              'one with ARR basis {{:,.2f}} starting {{}}.',
              s.id, s.account_id, s.carr, strftime(s.current_term_end_date, '%Y-%m-%d'))
       AS message
FROM subscriptions s
WHERE s.status = 'Active'
  AND NOT EXISTS (SELECT 1 FROM live l WHERE l.subscription_id = s.id)
UNION ALL
SELECT 'DUPLICATE_RENEWAL', subscription_id, id,
       format('Renewal {{}} duplicates renewal {{}} of subscription {{}}, which is kept ({{}}); '
              'mark {{}} as duplicate and unlink it.',
              id, kept_id, subscription_id,
              CASE WHEN kept_won AND NOT is_won THEN 'closed won'
                   WHEN kept_closed AND NOT is_closed THEN 'closed'
                   WHEN kept_created < created_at THEN 'created first'
                   ELSE 'same creation time, smaller id' END,
              id)
FROM linked WHERE rn > 1
UNION ALL
SELECT 'ORPHAN_RENEWAL', l.subscription_id, l.id,
       CASE WHEN l.subscription_id IS NULL
            THEN format('Open renewal {{}} (account {{}}) is linked to no subscription.',
                        l.id, l.account_id)
            ELSE format('Open renewal {{}} (account {{}}) is linked to subscription {{}}, '
                        'which does not exist.', l.id, l.account_id, l.subscription_id)
       END
FROM live l
WHERE NOT l.is_closed
  AND (l.subscription_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = l.subscription_id))
UNION ALL
SELECT 'ARR_BASIS_MISMATCH', subscription_id, id,
       CASE WHEN arr_basis IS NULL
            THEN format('Renewal {{}} has no ARR basis but subscription {{}} has CARR {{:,.2f}}.',
                        id, subscription_id, carr)
            ELSE format('Renewal {{}} has ARR basis {{:,.2f}} but subscription {{}} has '
                        'CARR {{:,.2f}}.', id, arr_basis, subscription_id, carr)
       END
FROM kept_open
WHERE arr_basis IS NULL OR abs(arr_basis - carr) > {ARR_TOLERANCE} + 1e-6
UNION ALL
SELECT 'START_DATE_MISMATCH', subscription_id, id,
       format('Renewal {{}} {{}} but subscription {{}}''s current term ends on {{}}.',
              id,
              CASE WHEN start_date IS NULL THEN 'has no start date'
                   ELSE 'starts on ' || strftime(start_date, '%Y-%m-%d') END,
              subscription_id, strftime(term_end, '%Y-%m-%d'))
FROM kept_open
WHERE start_date IS DISTINCT FROM term_end
ORDER BY subscription_id NULLS LAST, code, opportunity_id
"""


def load_duckdb() -> tuple[Any, str | None]:
    try:
        import duckdb
        import pandas
    except ImportError as exc:
        return None, (
            f"{exc.name} is not installed, so the DuckDB reference is skipped. "
            "Install it with: pip install -e '.[bench]'"
        )
    return (duckdb, pandas), None


def duckdb_load(mods: Any, subs: Sequence[Subscription], rens: Sequence[RenewalOpportunity]) -> Any:
    """A fresh in-memory database holding the two tables, built from the objects."""
    duckdb, pandas = mods
    con = duckdb.connect()
    sub_df = pandas.DataFrame(
        {
            "id": [s.id for s in subs],
            "account_id": [s.account_id for s in subs],
            "status": [s.status for s in subs],
            "current_term_end_date": [s.current_term_end_date for s in subs],
            "carr": [s.carr for s in subs],
            "contract_reset": [s.contract_reset for s in subs],
        }
    )
    ren_df = pandas.DataFrame(
        {
            "id": [r.id for r in rens],
            "account_id": [r.account_id for r in rens],
            "subscription_id": [r.subscription_id for r in rens],
            "is_closed": [r.is_closed for r in rens],
            "is_won": [r.is_won for r in rens],
            "arr_basis": [r.arr_basis for r in rens],
            "start_date": [r.start_date for r in rens],
            "created_at": [r.created_at for r in rens],
            "marked_duplicate": [r.marked_duplicate for r in rens],
        }
    )
    con.register("sub_df", sub_df)
    con.register("ren_df", ren_df)
    con.execute("CREATE TABLE subscriptions AS SELECT * FROM sub_df")
    con.execute("CREATE TABLE renewals AS SELECT * FROM ren_df")
    con.unregister("sub_df")
    con.unregister("ren_df")
    return con


def duckdb_query(con: Any) -> None:
    con.execute(SQL)


# --------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------


def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def fmt_mib(x: int | None) -> str:
    return "-" if x is None else f"{x / MiB:.0f}"


def run_size(n: int, seed: int, repeat: int, ddb: Any) -> dict[str, Any]:
    sys.stderr.write(f"  n={n:,}: building inputs ...\n")
    t0 = time.perf_counter()
    subs, rens, mix = build(n, seed)
    row: dict[str, Any] = {"n": n, "renewals": len(rens), "build_s": time.perf_counter() - t0}

    sys.stderr.write(f"  n={n:,}: reconcile x{repeat} ...\n")
    row["ours_s"], row["ours_runs"], ours = best_of(lambda: reconcile(subs, rens), repeat)
    row["codes"] = Counter(d.code.value for d in ours)
    row["found"] = len(ours)
    ours_rows = [(d.code.value, d.subscription_id, d.opportunity_id, d.message) for d in ours]
    del ours
    row["peak_traced"] = added_peak_tracemalloc(lambda: reconcile(subs, rens))
    row["peak_rss"] = added_peak_rss(lambda: reconcile(subs, rens))

    if ddb is not None:
        sys.stderr.write(f"  n={n:,}: DuckDB load + query x{repeat} ...\n")
        load_times: list[float] = []
        query_times: list[float] = []
        con = None
        for _ in range(repeat):
            if con is not None:
                con.close()
            gc.collect()
            t0 = time.perf_counter()
            con = duckdb_load(ddb, subs, rens)
            load_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            duckdb_query(con)
            query_times.append(time.perf_counter() - t0)
        assert con is not None
        row["ddb_load_s"], row["ddb_query_s"] = min(load_times), min(query_times)
        row["ddb_codes"] = Counter(
            dict(con.execute("SELECT code, count(*) FROM report GROUP BY code").fetchall())
        )
        ddb_rows = con.execute(
            "SELECT code, subscription_id, opportunity_id, message FROM report"
        ).fetchall()
        row["rows_equal"] = ddb_rows == ours_rows
        if not row["rows_equal"]:
            row["first_diff"] = next(
                (
                    (i, a, b)
                    for i, (a, b) in enumerate(zip(ours_rows, ddb_rows, strict=False))
                    if a != b
                ),
                (min(len(ours_rows), len(ddb_rows)), None, None),
            )
        con.close()
    row["mix"] = mix
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size; best counts")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    ddb, ddb_missing = load_duckdb()
    print(
        f"Reconciliation benchmark: sizes {', '.join(f'{n:,}' for n in sizes)}, "
        f"seed={args.seed}, best of {args.repeat}, Python {platform.python_version()} on "
        f"{platform.machine()}"
    )
    if ddb_missing:
        print(f"SKIPPED REFERENCE: {ddb_missing}")
    else:
        import duckdb

        row = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()
        threads = row[0] if row else "?"
        print(
            f"reference: duckdb {duckdb.__version__} ({threads} threads), "
            f"pandas {ddb[1].__version__}"
        )
    print()

    rows = [run_size(n, args.seed, args.repeat, ddb) for n in sizes]

    header = (
        f"{'subs':>9} {'renewals':>9} {'found':>7} {'ours s':>7} {'µs/sub':>6} "
        f"{'peak MiB (traced/RSS)':>21} {'ddb load':>8} {'ddb query':>9} {'ddb total':>9} "
        f"{'ddb/ours':>8} {'same rows':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        total = r["ddb_load_s"] + r["ddb_query_s"] if "ddb_load_s" in r else None
        ratio = f"{total / r['ours_s']:.2f}x" if total is not None else "-"
        same = "-" if "rows_equal" not in r else ("yes" if r["rows_equal"] else "NO")
        peak = f"{fmt_mib(r['peak_traced'])}/{fmt_mib(r['peak_rss'])}"
        print(
            f"{r['n']:>9,} {r['renewals']:>9,} {r['found']:>7,} {r['ours_s']:>7.3f} "
            f"{r['ours_s'] / r['n'] * 1e6:>6.2f} {peak:>21} {fmt_s(r.get('ddb_load_s')):>8} "
            f"{fmt_s(r.get('ddb_query_s')):>9} {fmt_s(total):>9} {ratio:>8} {same:>9}"
        )
    print(
        "ours s: best of the timed runs (all runs: "
        + "; ".join(f"{r['n']:,}: " + ", ".join(f"{t:.3f}" for t in r["ours_runs"]) for r in rows)
        + ")"
    )
    print("peak MiB: memory added by one reconcile call (tracemalloc peak / peak RSS growth)")
    print("ddb/ours: DuckDB end to end (load + query) divided by ours; > 1 means ours is faster")
    print()

    print("Counts per code (ours / DuckDB):")
    codes = [c.value for c in DiscrepancyCode]
    print(f"{'subs':>9} " + " ".join(f"{c:>21}" for c in codes) + "  agree")
    agree_all = True
    for r in rows:
        cells = []
        for c in codes:
            theirs = r["ddb_codes"].get(c, 0) if "ddb_codes" in r else None
            cells.append(f"{r['codes'].get(c, 0)}/{'-' if theirs is None else theirs}")
        if "ddb_codes" in r:
            agree = r["ddb_codes"] == r["codes"] and r["rows_equal"]
            agree_all &= agree
            verdict = "yes" if agree else "NO"
        else:
            verdict = "-"
        print(f"{r['n']:>9,} " + " ".join(f"{c:>21}" for c in cells) + f"  {verdict}")
        if r.get("first_diff"):
            i, a, b = r["first_diff"]
            print(f"    first differing row {i}:\n      ours:   {a}\n      duckdb: {b}")
    print()

    largest = max(rows, key=lambda r: r["n"])
    scaled = largest["ours_s"] * 1_000_000 / largest["n"]
    print(
        f"Target < {TARGET_S_AT_1M:.0f} s for 1M subscriptions: "
        + (
            "not measured (run with a size of 1,000,000)"
            if largest["n"] < 1_000_000
            else "MET"
            if scaled < TARGET_S_AT_1M
            else "NOT MET"
        )
        + f" ({largest['ours_s']:.3f} s at {largest['n']:,}"
        + ("" if largest["n"] == 1_000_000 else f", {scaled:.3f} s if linear to 1M")
        + ")"
    )
    peaks = [p for p in (largest["peak_traced"], largest["peak_rss"]) if p is not None]
    print(
        "Target < 1 GB added peak memory: "
        + ("MET" if max(peaks) < TARGET_ADDED_BYTES else "NOT MET")
        + f" ({max(peaks) / MiB:.0f} MiB at {largest['n']:,})"
    )
    if "ddb_load_s" in largest:
        total = largest["ddb_load_s"] + largest["ddb_query_s"]
        print(
            "Faster end to end than DuckDB: "
            + ("MET" if largest["ours_s"] < total else "NOT MET")
            + f" ({largest['ours_s']:.3f} s vs {total:.3f} s, {total / largest['ours_s']:.2f}x)"
        )
        print(
            "DuckDB agreement (counts per code and every row): "
            + ("all sizes agree" if agree_all else "DISAGREEMENT")
        )
    if len(rows) > 1:
        first = min(rows, key=lambda r: r["n"])
        time_x = largest["ours_s"] / first["ours_s"]
        size_x = largest["n"] / first["n"]
        print(
            f"Growth {first['n']:,} -> {largest['n']:,}: time x{time_x:.1f} for size "
            f"x{size_x:.0f}, i.e. cost per subscription x{time_x / size_x:.2f} (1.00 = linear)"
        )
    mix = largest["mix"]
    print(
        f"Scenario mix at {largest['n']:,}: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))
        + f"; inputs built in {largest['build_s']:.1f} s (not timed)"
    )
    return 0 if agree_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
