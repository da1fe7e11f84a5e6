"""The manager's reports and the policy simulator on hand-computed data.

The rounds (2026Q4, no holiday in any region on these days; AMER open 07:00-
17:00 Pacific, EMEA 08:00-17:00 London, SLA 12 business hours):

- A1 AMER clock Mon 5 Oct 08:00, approved 12:00 (4 h) by om.amer; Closed Won,
  self-managed, license delivered automatically 2 days after Closed Won.
- B1 AMER clock Tue 6 Oct 07:00, rejected Wed 16:00 (10 + 9 = 19 h, breach),
  reason po_missing.
- C1 EMEA clock Mon 12 Oct 09:00, approved 10:00 (1 h) by om.emea; Billing
  rejected it (amount).
- D1 AMER clock Thu 8 Oct 08:00, approved 10:00 (2 h); Closed Won, SaaS.
- F1 AMER clock Fri 9 Oct 08:00, approved 09:00 (1 h); Closed Won,
  self-managed, a ticket opened 9 Oct 00:00 UTC and still open.
- E1 AMER pending, clock Tue 13 Oct 07:00, breached, deadline 13 Oct 15:00.
- G1 EMEA pending, deadline Wed 14 Oct 12:00 London.

By hand: week of 5 Oct: A1 B1 D1 F1 decided, 3 within -> 0.75; week of
12 Oct: C1 -> 1.0. Hours 1 1 2 4 19: median 2, p90 (rank 5) 19. Breaches
B1 and E1. October accuracy: 4 approvals, 1 Billing rejection -> 0.75.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.authorization import Forbidden, report_regions
from domain.kpi import ReviewRound, kpi_report, quarter_period
from domain.models import Region
from domain.policy import Policy, Role
from domain.reports import (
    RoundFacts,
    billing_rejections,
    breaches,
    closed_won_by_member,
    closed_won_by_region,
    escalations,
    first_responses,
    license_tickets,
    manager_report,
    monthly_accuracy,
    rejections_by_region,
    weekly_sla,
    workload,
)
from domain.simulate import SimulatedRound, SimulationPolicy, simulate
from om.manager_reports import facts_from_transitions

PT, UK = ZoneInfo("America/Los_Angeles"), ZoneInfo("Europe/London")
AMER, EMEA = Region.AMER, Region.EMEA
OM_AMER, OM_EMEA = "om.amer@example.com", "om.emea@example.com"
H = 3600.0


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz).astimezone(UTC)


def decided(
    opp: str,
    region: Region,
    start: datetime,
    end: datetime,
    hours: float,
    outcome: str = "approved",
    by: str = OM_AMER,
    **more: object,
) -> ReviewRound:
    return ReviewRound(
        opportunity_id=opp,
        round=1,
        home_region=region,
        clock_start=start,
        outcome=outcome,
        decided_at=end,
        decided_by=by,
        business_seconds_to_decision=hours * H,
        sla_met=hours <= 12,
        **more,  # type: ignore[arg-type]
    )


A1 = decided(
    "A",
    AMER,
    at(PT, 2026, 10, 5, 8),
    at(PT, 2026, 10, 5, 12),
    4,
    finance_outcome="approved",
    finance_decided_at=datetime(2026, 10, 5, 21, tzinfo=UTC),
    deployment="self_managed",
    license_delivered_at=datetime(2026, 10, 7, 21, tzinfo=UTC),
)
B1 = decided(
    "B",
    AMER,
    at(PT, 2026, 10, 6, 7),
    at(PT, 2026, 10, 7, 16),
    19,
    outcome="rejected",
    reasons=("po_missing",),
    assigned_region=EMEA,
)
C1 = decided(
    "C",
    EMEA,
    at(UK, 2026, 10, 12, 9),
    at(UK, 2026, 10, 12, 10),
    1,
    by=OM_EMEA,
    finance_outcome="rejected",
    finance_reasons=("amount",),
    finance_decided_by="billing@example.com",
)
D1 = decided(
    "D",
    AMER,
    at(PT, 2026, 10, 8, 8),
    at(PT, 2026, 10, 8, 10),
    2,
    finance_outcome="approved",
    deployment="saas",
)
F1 = decided(
    "F",
    AMER,
    at(PT, 2026, 10, 9, 8),
    at(PT, 2026, 10, 9, 9),
    1,
    finance_outcome="approved",
    finance_decided_at=at(PT, 2026, 10, 9, 10),
    deployment="self_managed",
    license_tickets=1,
)
E1 = ReviewRound(
    "E",
    1,
    AMER,
    clock_start=at(PT, 2026, 10, 13, 7),
    sla_deadline=at(PT, 2026, 10, 13, 15),
    breached=True,
)
G1 = ReviewRound(
    "G", 1, EMEA, clock_start=at(UK, 2026, 10, 13, 12), sla_deadline=at(UK, 2026, 10, 14, 12)
)
PERIOD_ROUNDS = [A1, B1, C1, D1, F1, E1]
FACTS = {
    ("A", 1): RoundFacts(
        "A",
        1,
        submitted_at=at(PT, 2026, 10, 5, 8),
        owner="riley.rep@example.com",
        urgent=True,
        first_om_action_at=at(PT, 2026, 10, 5, 9, 30),
        first_om_actor=OM_AMER,
    ),
    ("B", 1): RoundFacts(
        "B",
        1,
        submitted_at=at(PT, 2026, 10, 5, 18),
        owner="riley.rep@example.com",
        urgent=True,
        first_om_action_at=at(PT, 2026, 10, 6, 8),
        first_om_actor=OM_AMER,
    ),
    ("C", 1): RoundFacts(
        "C",
        1,
        submitted_at=at(UK, 2026, 10, 12, 9),
        first_om_action_at=at(UK, 2026, 10, 12, 10),
        first_om_actor=OM_EMEA,
    ),
    ("D", 1): RoundFacts("D", 1, owner="kai.rep@example.com", urgent=True),
    ("F", 1): RoundFacts("F", 1, ticket_opened_at=datetime(2026, 10, 9, tzinfo=UTC)),
    ("E", 1): RoundFacts("E", 1, first_om_actor=OM_AMER),
}
NOW = at(PT, 2026, 10, 13, 10)  # Tue 10:00 Pacific = 18:00 London, EMEA closed


def test_weekly_sla_share() -> None:
    weeks = weekly_sla(PERIOD_ROUNDS)
    assert [(w.week, w.decided, w.within, w.share) for w in weeks] == [
        (date(2026, 10, 5), 4, 3, 0.75),
        (date(2026, 10, 12), 1, 1, 1.0),
    ]


def test_breaches_list_late_decisions_and_breached_pending_rounds() -> None:
    assert [(b.opportunity_id, b.outcome) for b in breaches(PERIOD_ROUNDS)] == [
        ("B", "rejected"),
        ("E", None),
    ]


def test_monthly_accuracy_and_each_billing_rejection() -> None:
    [october] = monthly_accuracy(PERIOD_ROUNDS)
    assert (october.month, october.approvals, october.billing_rejections) == ("2026-10", 4, 1)
    assert october.accuracy == 0.75 and october.met is False
    [rejection] = billing_rejections(PERIOD_ROUNDS)
    assert (rejection.opportunity_id, rejection.reasons, rejection.om_approver) == (
        "C",
        ["AMOUNT"],
        OM_EMEA,
    )


def test_rejections_and_closed_won() -> None:
    assert [(r.region, r.code, r.count) for r in rejections_by_region(PERIOD_ROUNDS)] == [
        ("AMER", "PO_MISSING", 1)
    ]
    assert closed_won_by_region(PERIOD_ROUNDS) == {"AMER": 3}
    assert closed_won_by_member(PERIOD_ROUNDS) == {OM_AMER: 3}


def test_first_response_in_business_hours() -> None:
    # A: 08:00 -> 09:30 = 1.5 h. B was handed to EMEA, so London's hours count:
    # submitted Mon 18:00 Pacific = Tue 02:00 London, first action Tue 08:00
    # Pacific = 16:00 London, open from 08:00 = 8 h. C: 1 h. AMER (1.5 + 8) / 2.
    by_region, by_person = first_responses(PERIOD_ROUNDS, FACTS)
    assert [(r.group, r.rounds, r.average_hours) for r in by_region] == [
        ("AMER", 2, 4.75),
        ("EMEA", 1, 1.0),
    ]
    assert [(r.group, r.average_hours) for r in by_person] == [(OM_AMER, 4.75), (OM_EMEA, 1.0)]


def test_license_delivery_and_long_open_tickets() -> None:
    lic = license_tickets(PERIOD_ROUNDS, FACTS, NOW, threshold_days=3)
    assert (lic.automatic, lic.ticket, lic.awaiting) == (1, 1, 0)
    assert lic.days_to_delivery == [2.0] and lic.median_days == 2.0
    # F's ticket: 9 Oct 00:00 UTC to 13 Oct 17:00 UTC = 4.71 days > 3.
    [ticket] = lic.long_open
    assert ticket.opportunity_id == "F" and ticket.days_open == pytest.approx(4 + 17 / 24)
    assert lic.long_open_by_cause == {"not recorded": 1}
    assert license_tickets(PERIOD_ROUNDS, FACTS, NOW, threshold_days=5).long_open == []


def test_escalations_flag_reps_over_the_threshold() -> None:
    rows = escalations(PERIOD_ROUNDS, FACTS, threshold=1)
    assert [(e.rep, e.quarter, e.urgent, e.handed_off_share, e.flagged) for e in rows] == [
        ("riley.rep@example.com", "2026Q4", 2, 0.5, True),
        ("kai.rep@example.com", "2026Q4", 1, 0.0, False),
    ]


def test_workload_now() -> None:
    work = workload([E1, G1, A1], FACTS, NOW, [AMER, EMEA])
    assert work.by_region == {"AMER": 1, "EMEA": 1}
    assert work.by_specialist == {OM_AMER: 1, "unclaimed": 1}
    assert work.region_closes == {"AMER": at(PT, 2026, 10, 13, 17), "EMEA": None}
    assert [o.opportunity_id for o in work.due_before_close] == ["E"]


def test_manager_report_median_p90_and_scope() -> None:
    period = quarter_period("2026Q4")
    kpi = kpi_report(PERIOD_ROUNDS, period=period)
    report = manager_report(kpi, PERIOD_ROUNDS, FACTS, [E1, G1], [AMER, EMEA], NOW)
    assert (report.sla_median_hours, report.sla_p90_hours) == (2, 19)
    assert report.model_dump_json()  # the API's JSON


def test_facts_from_transitions() -> None:
    t0 = at(PT, 2026, 10, 5, 8)
    rows = [
        (
            "X",
            None,
            "submitted",
            t0,
            "intake",
            None,
            {"owner": "riley.rep@example.com", "urgent": True},
        ),
        ("X", 1, "update", at(PT, 2026, 10, 5, 9), OM_AMER, "order_management", {}),
        ("X", 1, "decision", at(PT, 2026, 10, 5, 10), OM_EMEA, "order_management", {}),
        (
            "X",
            1,
            "rep_action",
            at(PT, 2026, 10, 6, 8),
            "riley.rep@example.com",
            "rep",
            {"update": "resubmit"},
        ),
        ("X", 2, "update_refused", at(PT, 2026, 10, 6, 9), OM_EMEA, "order_management", {}),
        ("X", 2, "decision", at(PT, 2026, 10, 6, 11), OM_AMER, "order_management", {}),
        ("X", None, "ticket", at(PT, 2026, 10, 7, 8), "workflow", None, {}),
    ]
    facts = facts_from_transitions(rows)
    one, two = facts[("X", 1)], facts[("X", 2)]
    assert (one.submitted_at, one.owner, one.urgent, one.first_om_actor) == (
        t0,
        "riley.rep@example.com",
        True,
        OM_AMER,
    )
    assert (two.submitted_at, two.urgent, two.first_om_actor) == (
        at(PT, 2026, 10, 6, 8),
        False,
        OM_AMER,
    )
    assert two.ticket_opened_at == at(PT, 2026, 10, 7, 8)


# ---- the manager role ----------------------------------------------------------------------


def test_demo_managers_and_report_access() -> None:
    policy = Policy()
    for region in Region:
        user = policy.user(f"manager.{region.value.lower()}@example.com")
        assert user is not None and user.role == Role.MANAGER and user.regions == [region]
        assert user.token == f"demo-manager-{region.value.lower()}"
    assert report_regions(Role.MANAGER, [EMEA], None) == (EMEA,)
    assert report_regions(Role.AUDITOR, [], AMER) == (AMER,)
    assert report_regions(Role.AUDITOR, [], None) == tuple(Region)
    with pytest.raises(Forbidden, match="AMER reports are not yours"):
        report_regions(Role.MANAGER, [EMEA], AMER)
    with pytest.raises(Forbidden, match="AMER reports are not yours"):
        report_regions(Role.ORDER_MANAGEMENT, [EMEA], AMER)
    with pytest.raises(Forbidden):
        report_regions(Role.REP, list(Region), None)


# ---- the simulator ------------------------------------------------------------------------

# R1: submitted Mon 5 Oct 16:00 Pacific, decided Wed 07:30: recorded 1 + 10 + 0.5 = 11.5 h.
# R2: submitted Mon 16:15, decided Tue 16:30: 0.75 + 9.5 = 10.25 h. Both within 12 h.
R1 = SimulatedRound(
    region=AMER,
    submitted_at=at(PT, 2026, 10, 5, 16),
    decided_at=at(PT, 2026, 10, 7, 7, 30),
    actual_within=True,
    actual_hours=11.5,
)
R2 = SimulatedRound(
    region=AMER,
    submitted_at=at(PT, 2026, 10, 5, 16, 15),
    decided_at=at(PT, 2026, 10, 6, 16, 30),
    actual_within=True,
    actual_hours=10.25,
)


def _amer(policy: dict[str, object]) -> tuple[object, object]:
    result = simulate([R1, R2], SimulationPolicy.model_validate(policy), "2026Q4")
    [region] = result.regions
    return region.actual, region.simulated


def test_simulation_under_the_same_policy_matches_the_record() -> None:
    actual, simulated = _amer({})
    assert actual == simulated
    assert simulated.within == 2 and simulated.median_hours == pytest.approx(10.875)  # type: ignore[attr-defined]


def test_simulation_shorter_sla_breaches_both() -> None:
    # 8 h: R1's deadline is Tue 15:00 (1 + 7), R2's Tue 14:15: both decided later.
    actual, simulated = _amer({"calendar": {"regions": {"AMER": {"sla_business_hours": 8}}}})
    assert (simulated.within, simulated.breaches, simulated.attainment) == (0, 2, 0.0)  # type: ignore[attr-defined]
    assert (actual.within, actual.attainment) == (2, 1.0)  # type: ignore[attr-defined]


def test_simulation_earlier_cutoff_starts_both_clocks_next_morning() -> None:
    # Cutoff 16:00: both clocks start Tue 07:00: R1 10 + 0.5 = 10.5 h, R2 9.5 h.
    _, simulated = _amer({"calendar": {"regions": {"AMER": {"cutoff": "16:00"}}}})
    assert simulated.median_hours == pytest.approx(10.0)  # type: ignore[attr-defined]
    assert simulated.within == 2  # type: ignore[attr-defined]


def test_simulation_other_time_zone() -> None:
    # New York hours: R1 at 19:00 ET starts Tue 07:00 ET; decided Wed 10:30 ET:
    # 10 + 3.5 = 13.5 h, a breach. R2 (19:15 ET) likewise, decided Tue 19:30 ET: 10 h.
    _, simulated = _amer({"calendar": {"regions": {"AMER": {"time_zone": "America/New_York"}}}})
    assert (simulated.within, simulated.breaches) == (1, 1)  # type: ignore[attr-defined]
    assert simulated.median_hours == pytest.approx((13.5 + 10) / 2)  # type: ignore[attr-defined]


def test_simulation_policy_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="sla_hours"):
        SimulationPolicy.model_validate({"sla_hours": 8})
