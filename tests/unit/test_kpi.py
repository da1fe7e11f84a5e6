"""KPI arithmetic on a hand-computed fixture set.

The rounds below are what the workflow records (`RoundRecord`: clock start,
deadline, decision, business seconds, SLA verdict) plus what the projection
adds (reasons, Billing's outcome, license delivery). Their business times and
deadlines are worked out by hand in the comments, across Thanksgiving, the UK
Christmas and Boxing Day (observed), the Philippine Immaculate Conception and
New Year's Day, and a test checks each against the business calendar, so
the fixtures are what a real history would hold.

2026Q4, all regions, by hand:
- decided rounds A1 B1 B2 C1 D1 D2 F1 G1 H1 = 9; within the SLA: all but B2
  and C1 = 7 -> 7/9; pending E2 (breached); F1 has no business time.
- business hours A1 4, B1 3, B2 30, C1 19, D1 0, D2 4, G1 2, H1 1.75;
  sorted 0 1.75 2 3 | 4 4 19 30 -> median (3 + 4) / 2 = 3.5; p90 rank
  ceil(0.9 * 8) = 8 -> 30.
- first response (round 1): 4 + 3 + 19 + 0 + 2 + 1.75 = 29.75 / 6.
- accuracy: approvals A1 B2 D2 F1 G1 H1 = 6, Billing rejected B2 -> 5/6.
- Closed Won: A1 D2 (om.amer) and G1 (om.emea, cover) -> AMER 3.
- license: A1 automatic after 2 days, G1 ticket, delivered after 5 days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import calendar_for
from domain.kpi import (
    ALL_TIME,
    CsatAnswer,
    CsatImportError,
    CsatResponse,
    KpiTargets,
    PeriodError,
    ReviewRound,
    accuracy_report,
    csat_in,
    csat_report,
    date_period,
    kpi_report,
    median,
    override_report,
    parse_csat_csv,
    percentile,
    quarter_period,
    rounds_in,
)
from domain.messages import RoundRecord
from domain.models import Region

PT = ZoneInfo("America/Los_Angeles")
UK = ZoneInfo("Europe/London")
MNL = ZoneInfo("Asia/Manila")
AMER, EMEA, APAC = Region.AMER, Region.EMEA, Region.APAC
OM_AMER, OM_EMEA, OM_APAC = "om.amer@example.com", "om.emea@example.com", "om.apac@example.com"
BILLING = "billing@example.com"
HOUR = 3600.0


def at(tz: ZoneInfo, *parts: int) -> datetime:
    """A local wall-clock instant, as UTC (what histories record)."""
    return datetime(*parts, tzinfo=tz).astimezone(UTC)


def recorded(
    opportunity: str,
    number: int,
    region: Region,
    clock_start: datetime,
    deadline: datetime,
    *,
    outcome: str | None = None,
    decided_at: datetime | None = None,
    decided_by: str | None = None,
    hours: float | None = None,
    breached: bool = False,
    **more: object,
) -> ReviewRound:
    """A round as the workflow records it (RoundRecord) plus the projection's facts."""
    decided = outcome in ("approved", "rejected")
    record = RoundRecord(
        round=number,
        opened_at=clock_start,
        reason="submitted for approval" if number == 1 else "resubmitted by the rep",
        home_region=region,
        clock_start=clock_start,
        sla_deadline=deadline,
        breached=breached,
        outcome=outcome,
        decided_at=decided_at,
        decided_by=decided_by,
        business_seconds_to_decision=None if hours is None else hours * HOUR,
        sla_met=(decided_at <= deadline) if decided and hours is not None else None,
    )
    return ReviewRound.from_record(opportunity, record, **more)


# A1: AMER, Wed 25 Nov 15:00 PST. Deadline: Wed 15-17 (2h), Thanksgiving, Fri
# 07-17 (10h) -> Fri 17:00 PST. Decided Fri 09:00: 2h + 2h = 4h (42h wall clock).
A1 = recorded(
    "A", 1, AMER, at(PT, 2026, 11, 25, 15), at(PT, 2026, 11, 27, 17),
    outcome="approved", decided_at=at(PT, 2026, 11, 27, 9), decided_by=OM_AMER, hours=4,
    finance_outcome="approved", finance_decided_at=datetime(2026, 11, 27, 18, tzinfo=UTC),
    finance_decided_by=BILLING, deployment="self_managed",
    license_delivered_at=datetime(2026, 11, 29, 18, tzinfo=UTC),
)  # fmt: skip
# B1: EMEA, Thu 24 Dec 16:00 GMT. Deadline: Thu 1h, Christmas, Boxing Day
# observed Mon 28, Tue 29 08-17 (9h), Wed 30 08-10 (2h) -> Wed 10:00.
# Decided Tue 29 10:00: 1h + 2h = 3h.
B1 = recorded(
    "B", 1, EMEA, at(UK, 2026, 12, 24, 16), at(UK, 2026, 12, 30, 10),
    outcome="rejected", decided_at=at(UK, 2026, 12, 29, 10), decided_by=OM_EMEA, hours=3,
    reasons=("po_missing", "VAT_ID_MISSING"),
)  # fmt: skip
# B2: EMEA, Wed 30 Dec 09:00. Deadline: Wed 8h, Thu 31 4h -> 12:00. Decided Tue
# 5 Jan 12:00: 8 + 9 (Thu 31) + New Year's Day + 9 (Mon 4) + 4 = 30h: missed.
B2 = recorded(
    "B", 2, EMEA, at(UK, 2026, 12, 30, 9), at(UK, 2026, 12, 31, 12),
    outcome="approved", decided_at=at(UK, 2027, 1, 5, 12), decided_by=OM_EMEA, hours=30,
    breached=True, finance_outcome="rejected", finance_decided_by=BILLING,
    finance_decided_at=datetime(2027, 1, 5, 15, tzinfo=UTC),
)  # fmt: skip
# B3: the round after Billing's rejection, pending; its clock starts in 2027Q1.
B3 = recorded("B", 3, EMEA, at(UK, 2027, 1, 5, 13), at(UK, 2027, 1, 6, 16))
# C1: APAC, Fri 4 Dec 09:00 Manila. Deadline: Fri 9h, Mon 7 3h -> 12:00.
# Decided Wed 9 10:00: 9 + 9 + Immaculate Conception (Tue 8) + 1 = 19h: missed.
C1 = recorded(
    "C", 1, APAC, at(MNL, 2026, 12, 4, 9), at(MNL, 2026, 12, 7, 12),
    outcome="rejected", decided_at=at(MNL, 2026, 12, 9, 10), decided_by=OM_APAC, hours=19,
    reasons=("ORDER_FORM_MISSING",),
)  # fmt: skip
# D1: AMER, Mon 5 Oct 07:00 PDT, rejected at once by the pre-check (0h).
# D2: Tue 6 Oct 09:00 PDT, decided 13:00 (4h); deadline Wed 7 11:00 PDT.
D1 = recorded(
    "D", 1, AMER, at(PT, 2026, 10, 5, 7), at(PT, 2026, 10, 6, 9),
    outcome="rejected", decided_at=at(PT, 2026, 10, 5, 7), decided_by="pre-check", hours=0,
    reasons=("PO_MISSING",),
)  # fmt: skip
D2 = recorded(
    "D", 2, AMER, at(PT, 2026, 10, 6, 9), at(PT, 2026, 10, 7, 11),
    outcome="approved", decided_at=at(PT, 2026, 10, 6, 13), decided_by=OM_AMER, hours=4,
    finance_outcome="approved", finance_decided_at=at(PT, 2026, 10, 7, 11),
    finance_decided_by=BILLING, deployment="saas",
)  # fmt: skip
# E1 recalled by the rep; E2 pending and already breached.
E1 = recorded("E", 1, AMER, at(PT, 2026, 11, 2, 7), at(PT, 2026, 11, 3, 9), outcome="recalled")
E2 = recorded("E", 2, AMER, at(PT, 2026, 11, 3, 7), at(PT, 2026, 11, 4, 9), breached=True)
# F1: recorded before the review-plan patch: no business time, no verdict;
# decided at 10:00 PST before its 09:00-next-day deadline.
F1 = recorded(
    "F", 1, AMER, at(PT, 2026, 12, 1, 7), at(PT, 2026, 12, 2, 9),
    outcome="approved", decided_at=at(PT, 2026, 12, 1, 10), decided_by=OM_AMER,
)  # fmt: skip
# G1: AMER deal taken by EMEA (cover), Mon 14 Dec 07:00 -> 09:00 PST (2h);
# Closed Won, license by a Support ticket 5 days later.
G1 = recorded(
    "G", 1, AMER, at(PT, 2026, 12, 14, 7), at(PT, 2026, 12, 15, 9),
    outcome="approved", decided_at=at(PT, 2026, 12, 14, 9), decided_by=OM_EMEA, hours=2,
    taken_because="end of quarter cover",
    finance_outcome="approved", finance_decided_at=datetime(2026, 12, 15, 18, tzinfo=UTC),
    finance_decided_by=BILLING, deployment="self_managed", license_tickets=1,
    license_delivered_at=datetime(2026, 12, 20, 18, tzinfo=UTC),
)  # fmt: skip
# H1: AMER, Thu 31 Dec 16:15 PST (before the 16:30 cutoff) = 1 Jan 00:15 UTC,
# a Q4 round. Deadline: Thu 0.75h, New Year's Day, Mon 4 10h, Tue 5 1.25h ->
# 08:15. Decided Mon 4 08:00: 0.75 + 1 = 1.75h.
H1 = recorded(
    "H", 1, AMER, at(PT, 2026, 12, 31, 16, 15), at(PT, 2027, 1, 5, 8, 15),
    outcome="approved", decided_at=at(PT, 2027, 1, 4, 8), decided_by=OM_AMER, hours=1.75,
)  # fmt: skip
# I1: a Q3 round (Wed 30 Sep), 1h, approved then rejected by Billing.
I1 = recorded(
    "I", 1, AMER, at(PT, 2026, 9, 30, 9), at(PT, 2026, 10, 1, 11),
    outcome="approved", decided_at=at(PT, 2026, 9, 30, 10), decided_by=OM_AMER, hours=1,
    finance_outcome="rejected", finance_reasons=("PO_MISMATCH",),
    finance_decided_at=datetime(2026, 10, 1, 18, tzinfo=UTC), finance_decided_by=BILLING,
)  # fmt: skip

ROUNDS = [A1, B1, B2, B3, C1, D1, D2, E1, E2, F1, G1, H1, I1]
Q4 = quarter_period("2026Q4")


def figures(report) -> dict[str, float | bool | None]:  # type: ignore[no-untyped-def]
    return {"value": report.value, "met": report.met}


# ---- the fixtures are faithful ----------------------------------------------------------------


@pytest.mark.parametrize(
    "r", [A1, B1, B2, C1, D1, D2, G1, H1, I1], ids=lambda r: f"{r.opportunity_id}{r.round}"
)
def test_fixture_rounds_spanning_holidays_match_the_business_calendar(r: ReviewRound):
    calendar = calendar_for(r.home_region)
    assert r.clock_start is not None and r.decided_at is not None
    assert calendar.sla_deadline(r.clock_start) == r.sla_deadline
    used = calendar.business_time_between(r.clock_start, r.decided_at)
    assert used == timedelta(seconds=r.business_seconds_to_decision or 0)


def test_thanksgiving_round_is_4_business_hours_in_42_wall_clock_hours():
    assert A1.decided_at is not None and A1.clock_start is not None
    assert A1.decided_at - A1.clock_start == timedelta(hours=42)
    assert A1.business_hours == 4 and A1.within_sla is True


# ---- statistics ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([5.0], 5.0),
        ([3.0, 1.0, 2.0, 5.0, 4.0], 5.0),  # ceil(4.5) = 5th
        ([float(v) for v in range(10, 0, -1)], 9.0),  # ceil(9.0) = 9th, not interpolated
        ([float(v) for v in range(1, 12)], 10.0),  # ceil(9.9) = 10th
        ([float(v) for v in range(1, 21)], 18.0),
    ],
)
def test_p90_is_the_nearest_rank_on_small_sets(values: list[float], expected: float | None):
    assert percentile(values, 0.9) == expected


def test_median_averages_the_two_middle_values():
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([2.0, 9.0, 1.0]) == 2.0
    assert median([]) is None


# ---- periods ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026Q4", "2026-q4", "Q4 2026", " 2026 Q4 "])
def test_calendar_quarter_is_october_to_december(text: str):
    period = quarter_period(text)
    assert (period.start, period.end, period.label) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
        "2026Q4",
    )


@pytest.mark.parametrize(
    ("text", "fiscal", "start", "end"),
    [
        ("FY2027Q4", False, date(2026, 11, 1), date(2027, 1, 31)),
        ("2027Q4", True, date(2026, 11, 1), date(2027, 1, 31)),
        ("Q4 FY27", False, date(2026, 11, 1), date(2027, 1, 31)),
        ("FY27-Q1", False, date(2026, 2, 1), date(2026, 4, 30)),
        ("FY2027Q3", False, date(2026, 8, 1), date(2026, 10, 31)),
        ("2024Q1", False, date(2024, 1, 1), date(2024, 3, 31)),
    ],
)
def test_gitlab_fiscal_quarters_differ_from_calendar_quarters(
    text: str, fiscal: bool, start: date, end: date
):
    period = quarter_period(text, fiscal)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["2026Q5", "2026", "Q0 2026", "next quarter", ""])
def test_unreadable_quarter_is_a_clear_error(text: str):
    with pytest.raises(PeriodError, match="2026Q4"):
        quarter_period(text)


def test_dates_in_the_wrong_order_are_refused():
    with pytest.raises(PeriodError, match="before it starts"):
        date_period(date(2026, 12, 1), date(2026, 11, 1))
    assert date_period(None, None) == ALL_TIME


def test_round_counts_in_the_quarter_of_its_local_clock_start_not_its_utc_date():
    assert H1.clock_start is not None and H1.clock_start.date() == date(2027, 1, 1)
    assert H1 in rounds_in(ROUNDS, Q4)
    assert H1 not in rounds_in(ROUNDS, quarter_period("2027Q1"))
    assert [r.opportunity_id + str(r.round) for r in rounds_in(ROUNDS, Q4)] == [
        "A1", "B1", "B2", "C1", "D1", "D2", "E1", "E2", "F1", "G1", "H1",
    ]  # fmt: skip


def test_round_without_a_recorded_clock_counts_only_when_no_period_is_chosen():
    fresh = ReviewRound("Z", 1, AMER)
    assert rounds_in([fresh]) == [fresh]
    assert rounds_in([fresh], Q4) == []
    assert rounds_in([fresh], date_period(date(2026, 1, 1), None)) == []


# ---- the KPIs on 2026Q4 ----------------------------------------------------------------


def test_quarter_report_on_the_fixture_set():
    report = kpi_report(ROUNDS, period=Q4)
    assert (report.period, report.start, report.end, report.rounds) == (
        "2026Q4",
        date(2026, 10, 1),
        date(2026, 12, 31),
        11,
    )

    sla = report.sla
    assert (sla.decided, sla.within, sla.pending, sla.pending_breached, sla.unmeasured) == (
        9,
        7,
        1,
        1,
        1,
    )
    assert sla.share_within.value == pytest.approx(7 / 9)
    assert (sla.share_within.target, sla.share_within.met, sla.share_within.basis) == (
        0.9,
        False,
        9,
    )
    assert figures(sla.median_hours) == {"value": 3.5, "met": True}
    assert figures(sla.p90_hours) == {"value": 30.0, "met": False}
    assert (sla.median_hours.target, sla.median_hours.basis) == (12.0, 8)

    first = report.first_response.average_hours
    assert first.value == pytest.approx(29.75 / 6) and first.met is True and first.basis == 6

    accuracy = report.accuracy
    assert (accuracy.om_approvals, accuracy.finance_rejections, accuracy.awaiting_billing) == (
        6,
        1,
        2,
    )
    assert accuracy.accuracy.value == pytest.approx(5 / 6)
    assert (accuracy.accuracy.target, accuracy.accuracy.met) == (0.95, False)

    rejections = report.rejections
    assert (rejections.rejections, rejections.automatic) == (3, 1)
    assert [(c.code, c.count) for c in rejections.by_reason] == [
        ("PO_MISSING", 2),
        ("ORDER_FORM_MISSING", 1),
        ("VAT_ID_MISSING", 1),
    ]
    assert {
        region: [(c.code, c.count) for c in top] for region, top in rejections.top_by_region.items()
    } == {
        "AMER": [("PO_MISSING", 1)],
        "APAC": [("ORDER_FORM_MISSING", 1)],
        "EMEA": [("PO_MISSING", 1), ("VAT_ID_MISSING", 1)],
    }
    assert rejections.billing_rejections == 1
    assert [(c.code, c.count) for c in rejections.billing_by_reason] == [("UNSPECIFIED", 1)]

    won = report.closed_won
    assert (won.total, won.by_region, won.by_specialist) == (
        3,
        {"AMER": 3},
        {OM_AMER: 2, OM_EMEA: 1},
    )

    lic = report.license_delivery
    assert (lic.closed_won_self_managed, lic.delivered_automatically, lic.with_ticket) == (2, 1, 1)
    assert (lic.awaiting, lic.tickets_opened) == (0, 1)
    assert lic.automatic_share.value == 0.5 and lic.automatic_share.met is None
    assert lic.median_days_to_delivery.value == 3.5  # (2 + 5) / 2
    assert lic.automatic_share.target is None and "no published target" in lic.automatic_share.note


def test_all_time_report_adds_the_q3_round_and_the_q1_pending_round():
    report = kpi_report(ROUNDS)
    assert report.rounds == len(ROUNDS) and report.period == "all recorded"
    sla = report.sla
    assert (sla.decided, sla.within, sla.pending) == (10, 8, 2)
    assert sla.share_within.value == 0.8
    assert sla.median_hours.value == 3.0  # 0 1 1.75 2 [3] 4 4 19 30
    assert sla.p90_hours.value == 30.0  # ceil(8.1) = 9th of 9
    assert report.accuracy.accuracy.value == pytest.approx(5 / 7)
    assert [(c.code, c.count) for c in report.rejections.billing_by_reason] == [
        ("PO_MISMATCH", 1),
        ("UNSPECIFIED", 1),
    ]


def test_region_filter_uses_the_home_region():
    report = kpi_report(ROUNDS, period=Q4, region=EMEA)
    assert report.region == "EMEA" and report.rounds == 2
    assert report.sla.share_within.value == 0.5
    assert report.sla.median_hours.value == 16.5 and report.sla.p90_hours.value == 30.0
    assert report.first_response.average_hours.value == 3.0
    assert report.accuracy.accuracy.value == 0.0 and report.accuracy.accuracy.met is False
    # G1 was decided by an EMEA specialist, but it is an AMER deal.
    assert report.closed_won.total == 0
    assert report.license_delivery.automatic_share.value is None
    assert list(report.csat.by_region) == ["EMEA"]


def test_empty_period_gives_na_figures_not_errors():
    report = kpi_report(ROUNDS, [], period=quarter_period("2025Q1"))
    assert report.rounds == 0
    for figure in (
        report.sla.share_within,
        report.sla.median_hours,
        report.sla.p90_hours,
        report.first_response.average_hours,
        report.accuracy.accuracy,
        report.license_delivery.automatic_share,
        report.license_delivery.median_days_to_delivery,
        report.csat.overall.rating,
    ):
        assert figure.value is None and figure.met is None and figure.basis == 0
    assert report.rejections.by_reason == [] and report.rejections.top_by_region == {}
    assert report.closed_won.total == 0 and report.closed_won.by_region == {}
    assert report.csat.overall.rating.note == "no responses"
    assert report.model_dump(mode="json")["sla"]["median_hours"]["value"] is None


def test_legacy_round_is_judged_against_its_recorded_deadline():
    late = ReviewRound(
        "L",
        1,
        AMER,
        clock_start=datetime(2026, 12, 1, 15, tzinfo=UTC),
        sla_deadline=datetime(2026, 12, 2, 17, tzinfo=UTC),
        outcome="rejected",
        decided_at=datetime(2026, 12, 2, 17, 1, tzinfo=UTC),
    )
    assert F1.within_sla is True and F1.business_hours is None
    assert late.within_sla is False
    assert E1.within_sla is None and E2.within_sla is None  # recalled, pending


def test_accuracy_at_exactly_95_percent_meets_the_target():
    approvals = [
        ReviewRound(f"P{i}", 1, AMER, outcome="approved", finance_outcome="approved")
        for i in range(19)
    ]
    rejected = ReviewRound("R", 1, AMER, outcome="approved", finance_outcome="rejected")
    report = accuracy_report([*approvals, rejected])
    assert report.accuracy.value == 0.95 and report.accuracy.met is True


def test_targets_come_from_policy():
    strict = KpiTargets(sla_business_hours=3.0, sla_share=0.5)
    sla = kpi_report(ROUNDS, period=Q4, targets=strict).sla
    assert sla.median_hours.met is False and sla.share_within.met is True


# ---- CSAT ----------------------------------------------------------------


def responses(region: Region, quarter: str, *answers: CsatAnswer) -> list[CsatResponse]:
    return [CsatResponse(region, quarter, a) for a in answers]


E, G, N, P, VP = (
    CsatAnswer.EXCELLENT,
    CsatAnswer.GOOD,
    CsatAnswer.NEUTRAL,
    CsatAnswer.POOR,
    CsatAnswer.VERY_POOR,
)


def test_csat_rating_counts_neutral_as_satisfied_and_says_no_responses_when_empty():
    survey = [
        *responses(AMER, "2026Q4", E, G, N, P),  # 3/4
        *responses(EMEA, "2026Q4", *[E] * 20, G, G, N, VP, P),  # 23/25 = 92% exactly
    ]
    report = csat_report(survey)
    amer, emea, apac = (report.by_region[r] for r in ("AMER", "EMEA", "APAC"))
    assert (amer.responses, amer.rating.value, amer.rating.met) == (4, 0.75, False)
    assert amer.answers == {"Excellent": 1, "Good": 1, "Neutral": 1, "Poor": 1, "Very Poor": 0}
    assert (emea.responses, emea.rating.value, emea.rating.met) == (25, 0.92, True)
    assert (apac.responses, apac.rating.value, apac.rating.met) == (0, None, None)
    assert apac.rating.note == "no responses" and apac.rating.target == 0.92
    assert report.overall.responses == 29 and report.overall.rating.value == 26 / 29


def test_csat_of_only_unhappy_answers_is_zero_not_na():
    rating = csat_report(responses(APAC, "2026Q4", P, VP)).by_region["APAC"].rating
    assert (rating.value, rating.met) == (0.0, False)


def test_csat_counts_quarters_lying_wholly_inside_the_period():
    survey = [
        *responses(AMER, "2026Q4", E),
        *responses(AMER, "2026Q3", P),
        *responses(AMER, "FY2027Q4", VP),  # Nov-Jan: not wholly inside 2026Q4
    ]
    assert csat_in(survey, Q4) == survey[:1]
    assert csat_in(survey, quarter_period("FY2027Q4")) == survey[2:]
    assert csat_in(survey) == survey
    assert csat_in(survey, Q4, EMEA) == []
    report = kpi_report([], survey, period=Q4)
    assert report.csat.by_region["AMER"].rating.value == 1.0


def test_csat_csv_is_read_leniently_where_it_is_unambiguous():
    text = (
        "\ufeffRegion , QUARTER,Response,comment\n"
        "amer,2026Q4,Excellent,great\n"
        "\n"
        "EMEA, Q4 2026 ,  very   poor ,\n"
        "APAC,FY27Q4,NEUTRAL\n"
    )
    assert parse_csat_csv(text) == [
        CsatResponse(AMER, "2026Q4", E),
        CsatResponse(EMEA, "2026Q4", VP),
        CsatResponse(APAC, "FY2027Q4", N),
    ]
    assert parse_csat_csv("region,quarter,response\n") == []


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("region,quarter,response\nAMER,2026Q4,Good\nAMER,2026Q4,Great\n", 3, "response", "Great"),
        ("region,quarter,response\nLATAM,2026Q4,Good\n", 2, "region", "LATAM"),
        ("region,quarter,response\n\nAMER,Q5,Good\n", 3, "quarter", "Q5"),
        ("region,quarter,response\nAMER,,Good\n", 2, "quarter", "empty"),
        ("region,quarter,response\nAMER,2026Q4\n", 2, "response", "empty"),
        ("region,quarter,answer\nAMER,2026Q4,Good\n", 1, "response", "no response column"),
    ],
)
def test_bad_csat_row_is_one_error_naming_line_and_column(
    text: str, line: int, column: str, words: str
):
    with pytest.raises(CsatImportError) as raised:
        parse_csat_csv(text)
    error = raised.value
    assert (error.line, error.column) == (line, column)
    message = str(error)
    assert message.startswith(f"line {line}, column {column!r}: ") and words in message


def test_empty_csat_file_is_an_error_not_an_empty_survey():
    with pytest.raises(CsatImportError, match="empty"):
        parse_csat_csv("")


def test_overrides_are_counted_per_specialist_and_against_billings_rejections():
    a, b = "om.amer@example.com", "om.emea@example.com"
    rounds = [
        ReviewRound(
            "O1",
            1,
            AMER,
            outcome="approved",
            decided_by=a,
            overrides=("PO_MISSING",),
            finance_outcome="rejected",
        ),
        ReviewRound("O1", 2, AMER, outcome="approved", decided_by=a, finance_outcome="approved"),
        ReviewRound(
            "O2",
            1,
            EMEA,
            outcome="approved",
            decided_by=b,
            overrides=("EULA_MISSING", "PO_MISSING"),
            finance_outcome="approved",
        ),
        ReviewRound("O3", 1, AMER, outcome="approved", decided_by=a, overrides=("EULA_MISSING",)),
        ReviewRound("O4", 1, AMER, outcome="rejected", decided_by=a, overrides=("PO_MISSING",)),
    ]
    report = override_report(rounds)
    assert report.approvals == 3
    assert report.by_specialist == {a: 2, b: 1}
    assert [(c.code, c.count) for c in report.by_code] == [("EULA_MISSING", 2), ("PO_MISSING", 2)]
    assert (report.billing_rejected, report.awaiting_billing) == (1, 1)
