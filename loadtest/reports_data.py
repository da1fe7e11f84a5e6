"""Decided review rounds for the reports' tests and `make bench-reports`.

Why generated rows and not workflow runs: the reports read only the
reporting store, and a quarter of 10,000 decided rounds would take hours of
real workflows. The rows are what the projection writes (rounds and the
transitions the reports read), with SLA figures computed by the domain's
calendar so they agree with what a workflow would have recorded.
Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from domain.calendar import calendar_for
from domain.kpi import ReviewRound
from domain.models import Region
from domain.sla import choose_review_region
from om.reporting_store import ReportingStore, RunFacts, rounds, transitions

SPECIALISTS = {
    Region.AMER: ["om.amer@example.com", "om.amer2@example.com"],
    Region.EMEA: ["om.emea@example.com", "om.emea2@example.com"],
    Region.APAC: ["om.apac@example.com"],
}
REPS = [
    "riley.rep@example.com",
    "emma.rep@example.com",
    "kai.rep@example.com",
    "lucia.rep@example.com",
]
REASONS = ["PO_MISSING", "AMOUNT_MISMATCH", "QUOTE_NOT_SIGNED", "BILLING_CONTACT"]


def generate(
    n: int, first_day: date = date(2026, 10, 1), days: int = 91, seed: int = 7
) -> tuple[list[ReviewRound], list[dict[str, Any]]]:
    """`n` decided first rounds with clock starts spread over `days` from
    `first_day`, and their transitions (submission, decision, license ticket)
    as store rows without ids. As in a real history, the decision is the only
    Order Management action on a round: the workflow records no claim."""
    rng = random.Random(seed)
    made: list[ReviewRound] = []
    facts: list[dict[str, Any]] = []
    for i in range(n):
        region = rng.choice(list(Region))
        calendar = calendar_for(region)
        day = first_day + timedelta(days=rng.randrange(days))
        local = datetime.combine(day, time(rng.randrange(6, 20), rng.randrange(60)), calendar.tz)
        submitted = local.astimezone(UTC)
        urgent = rng.random() < 0.1
        assigned, _ = choose_review_region(region, submitted, urgent)
        calendar = calendar_for(assigned)
        start = calendar.clock_start(submitted)
        deadline = calendar.add_business_hours(start, calendar.sla)
        hours = rng.choice([rng.uniform(0.2, 11.9)] * 9 + [rng.uniform(12.1, 30)])
        decided_at = calendar.add_business_hours(start, timedelta(hours=hours))
        specialist = rng.choice(SPECIALISTS[region])
        approved = rng.random() < 0.8
        finance = None
        finance_at = None
        if approved:
            finance = "approved" if rng.random() < 0.95 else "rejected"
            finance_at = decided_at + timedelta(hours=rng.uniform(1, 48))
        self_managed = rng.random() < 0.5
        delivered = tickets = None
        if finance == "approved" and self_managed:
            if rng.random() < 0.85:
                delivered = finance_at + timedelta(days=rng.uniform(0, 2)) if finance_at else None
            else:
                tickets = 1
        opportunity = f"006B{i:011d}"
        made.append(
            ReviewRound(
                opportunity_id=opportunity,
                round=1,
                home_region=region,
                assigned_region=assigned,
                clock_start=start,
                sla_deadline=deadline,
                outcome="approved" if approved else "rejected",
                decided_at=decided_at,
                decided_by=specialist,
                reasons=() if approved else (rng.choice(REASONS),),
                business_seconds_to_decision=calendar.business_time_between(
                    start, decided_at
                ).total_seconds(),
                sla_met=decided_at <= deadline,
                breached=decided_at > deadline,
                finance_outcome=finance,
                finance_decided_at=finance_at,
                finance_decided_by="billing@example.com" if finance else None,
                finance_reasons=("AMOUNT_MISMATCH",) if finance == "rejected" else (),
                deployment="self_managed" if self_managed else "saas",
                license_delivered_at=delivered,
                license_tickets=tickets or 0,
            )
        )
        base = {
            "workflow_id": f"opportunity-{opportunity}",
            "run_id": "r1",
            "opportunity_id": opportunity,
            "region": region.value,
        }
        facts.append(
            base
            | {
                "event_id": 1,
                "seq": 0,
                "at": submitted,
                "round": None,
                "kind": "submitted",
                "actor": "intake",
                "role": None,
                "actor_region": region.value,
                "summary": "",
                "data": {"owner": rng.choice(REPS), "urgent": urgent},
            }
        )
        facts.append(
            base
            | {
                "event_id": 11,
                "seq": 0,
                "at": decided_at,
                "round": 1,
                "kind": "decision",
                "actor": specialist,
                "role": "order_management",
                "actor_region": region.value,
                "summary": "",
                "data": {},
            }
        )
        if tickets and finance_at is not None:
            facts.append(
                base
                | {
                    "event_id": 20,
                    "seq": 0,
                    "at": finance_at + timedelta(hours=1),
                    "round": None,
                    "kind": "ticket",
                    "actor": "workflow",
                    "role": None,
                    "actor_region": None,
                    "summary": "",
                    "data": {},
                }
            )
    return made, facts


def fill(store: ReportingStore, made: list[ReviewRound], facts: list[dict[str, Any]]) -> None:
    """Bulk-insert generated rows (one transaction, no per-run bookkeeping)."""
    rows = [
        ReportingStore._round_row(
            RunFacts(
                f"opportunity-{r.opportunity_id}",
                "r1",
                r.opportunity_id,
                r.home_region,
                "completed",
                None,
                0,
            ),
            r,
        )
        for r in made
    ]
    with store.engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(rounds.insert(), rows[chunk : chunk + 5000])
        for chunk in range(0, len(facts), 5000):
            conn.execute(transitions.insert(), facts[chunk : chunk + 5000])


def pending(
    n: int, first_day: date = date(2026, 12, 28), seed: int = 5
) -> tuple[list[ReviewRound], list[dict[str, Any]]]:
    """`n` rounds still waiting for Order Management (clock started on
    `first_day`, so breached by any later day). Every other one carries an
    Order Management action on the round, standing in for a claim step the
    workflow does not record yet, so the workload per specialist has a name
    to show."""
    rng = random.Random(seed)
    made: list[ReviewRound] = []
    facts: list[dict[str, Any]] = []
    for i in range(n):
        region = list(Region)[i % len(Region)]
        calendar = calendar_for(region)
        submitted = datetime.combine(first_day, time(10), calendar.tz).astimezone(UTC)
        start = calendar.clock_start(submitted)
        opportunity = f"006P{i:011d}"
        made.append(
            ReviewRound(
                opportunity_id=opportunity,
                round=1,
                home_region=region,
                assigned_region=region,
                clock_start=start,
                sla_deadline=calendar.add_business_hours(start, calendar.sla),
                breached=True,
            )
        )
        base = {
            "workflow_id": f"opportunity-{opportunity}",
            "run_id": "r1",
            "opportunity_id": opportunity,
            "region": region.value,
            "seq": 0,
            "summary": "",
            "actor_region": region.value,
        }
        facts.append(
            base
            | {
                "event_id": 1,
                "at": submitted,
                "round": None,
                "kind": "submitted",
                "actor": "intake",
                "role": None,
                "data": {"owner": rng.choice(REPS), "urgent": False},
            }
        )
        if i % 2:
            specialist = SPECIALISTS[region][0]
            facts.append(
                base
                | {
                    "event_id": 10,
                    "at": start + timedelta(minutes=30),
                    "round": 1,
                    "kind": "update",
                    "actor": specialist,
                    "role": "order_management",
                    "data": {"update": "claim"},
                }
            )
    return made, facts
