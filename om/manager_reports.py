"""The manager's reports and the policy simulator over the reporting store.

The figures are `domain.reports` and `domain.simulate` (pure); this module
reads the store's rows for them and turns the transitions into the per-round
facts the rounds table does not hold (`facts_from_transitions`). The API,
the console and `om kpi --plot/--csv` / `om simulate` all call `build_report`
and `simulate_period`, so the page, the JSON and the files cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from domain.kpi import KpiTargets, Period, ReviewRound, csat_in, kpi_report, rounds_in
from domain.models import Region
from domain.reports import FactsByRound, ManagerReport, ReportThresholds, RoundFacts, manager_report
from domain.simulate import Simulation, SimulationPolicy, simulate, simulated_round
from om.reporting_store import ReportingStore
from om.settings import Settings

SUBMITTED, REP_ACTION, TICKET, TICKET_SOLVED = "submitted", "rep_action", "ticket", "ticket_solved"


def facts_from_transitions(rows: Iterable[Sequence[Any]]) -> FactsByRound:
    """Per (opportunity, round): submission instant, rep, urgency, first Order
    Management action, and the deal's license ticket.

    Rows are (opportunity_id, round, kind, at, actor, role, data), oldest
    first. Round 1 is submitted by the `submitted` fact; the k-th resubmission
    opens round k + 1. The ticket belongs to every round of its opportunity
    (the report looks it up on the round that went to Closed Won).
    """
    submitted: dict[str, dict[int, datetime]] = defaultdict(dict)
    owner: dict[str, str] = {}
    urgent: dict[str, bool] = {}
    first_action: dict[tuple[str, int], tuple[datetime, str]] = {}
    ticket: dict[str, dict[str, Any]] = defaultdict(dict)
    for opportunity, number, kind, at, actor, role, data in rows:
        data = data or {}
        if kind == SUBMITTED:
            submitted[opportunity].setdefault(1, at)
            owner.setdefault(opportunity, data.get("owner") or "unknown")
            urgent.setdefault(opportunity, bool(data.get("urgent")))
        elif kind == REP_ACTION and data.get("update") == "resubmit":
            rounds = submitted[opportunity]
            rounds[max(rounds, default=0) + 1] = at
        elif kind == TICKET:
            ticket[opportunity].setdefault("opened", at)
            cause = data.get("cause")
            if cause:
                ticket[opportunity].setdefault("cause", str(cause))
        elif kind == TICKET_SOLVED:
            ticket[opportunity].setdefault("solved", at)
        if role == "order_management" and number is not None and kind != "update_refused":
            first_action.setdefault((opportunity, number), (at, actor))
    keys = {(o, n) for o, rounds in submitted.items() for n in rounds} | set(first_action)
    facts: FactsByRound = {}
    for opportunity, number in keys:
        acted = first_action.get((opportunity, number))
        t = ticket.get(opportunity, {})
        facts[(opportunity, number)] = RoundFacts(
            opportunity_id=opportunity,
            round=number,
            submitted_at=submitted.get(opportunity, {}).get(number),
            owner=owner.get(opportunity),
            urgent=urgent.get(opportunity, False) and number == 1,
            first_om_action_at=acted[0] if acted else None,
            first_om_actor=acted[1] if acted else None,
            ticket_opened_at=t.get("opened"),
            ticket_solved_at=t.get("solved"),
            ticket_cause=t.get("cause"),
        )
    return facts


def _since(period: Period) -> datetime | None:
    """Where the period's transitions start: eight days before its first day,
    since a round's submission may precede its clock start by a weekend and
    a holiday (the rounds themselves are chosen by clock start)."""
    if period.start is None:
        return None
    return datetime.combine(period.start, time(0), tzinfo=UTC) - timedelta(days=8)


def targets_for(settings: Settings, regions: Sequence[Region]) -> KpiTargets:
    """The published targets, with the longest SLA of the regions read."""
    hours = max(settings.calendar.hours_for(r).sla_business_hours for r in regions)
    return KpiTargets(sla_business_hours=hours)


def _chosen(
    rounds: Iterable[ReviewRound], period: Period, regions: Sequence[Region]
) -> list[ReviewRound]:
    wanted = set(regions)
    return [r for r in rounds_in(rounds, period) if r.home_region in wanted]


def build_report(
    store: ReportingStore,
    settings: Settings,
    period: Period,
    regions: Sequence[Region],
    now: datetime,
) -> ManagerReport:
    """Every manager report of `period` for `regions`, as of `now` (workload)."""
    region = regions[0] if len(regions) == 1 else None
    rounds = _chosen(store.review_rounds(period.start, period.end, region), period, regions)
    targets = targets_for(settings, regions)
    responses = [r for r in csat_in(store.csat(), period) if r.region in regions]
    kpi = kpi_report(rounds, responses, period, region, targets)
    if region is None and len(regions) < len(Region):
        # kpi_report's CSAT covers every region when given none: keep the read ones.
        kpi.csat.by_region = {k: v for k, v in kpi.csat.by_region.items() if Region(k) in regions}
    open_rounds = [r for r in store.open_rounds(region) if r.home_region in regions]
    since = _since(period)
    facts = facts_from_transitions(store.report_transitions(since))
    if open_rounds and since is not None:
        older = {r.opportunity_id for r in open_rounds}
        facts = facts_from_transitions(store.report_transitions(None, older)) | facts
    thresholds = ReportThresholds(
        license_ticket_open_days=settings.reports.license_ticket_open_days,
        urgent_per_rep_quarter=settings.reports.urgent_per_rep_quarter,
    )
    return manager_report(
        kpi, rounds, facts, open_rounds, regions, now, thresholds, settings.calendar, targets
    )


def simulate_period(
    store: ReportingStore,
    policy: SimulationPolicy,
    period: Period,
    regions: Sequence[Region],
) -> Simulation:
    """The period's decided rounds of `regions` under `policy`, beside the actual."""
    region = regions[0] if len(regions) == 1 else None
    rounds = _chosen(store.decided_rounds(period.start, period.end, region), period, regions)
    facts = facts_from_transitions(store.report_transitions(_since(period), om_actions=False))
    return simulate_rounds(rounds, facts, policy, period.label)


def simulate_rounds(
    rounds: Iterable[ReviewRound], facts: FactsByRound, policy: SimulationPolicy, label: str
) -> Simulation:
    """`domain.simulate.simulate` over store rounds, with their submissions."""
    chosen = []
    skipped = 0
    for r in rounds:
        if not r.decided:
            continue
        f = facts.get((r.opportunity_id, r.round))
        one = simulated_round(r, f.submitted_at if f else None, bool(f and f.urgent))
        if one is None:
            skipped += 1
        else:
            chosen.append(one)
    result = simulate(chosen, policy, label)
    result.skipped = skipped
    return result
