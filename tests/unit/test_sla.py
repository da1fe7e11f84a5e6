"""Planning review rounds with the real regional calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import calendar_for
from domain.models import Region
from domain.queue import QueueItem, order_queue, priority_token, start_date_of
from domain.sla import (
    backdated_for_warning,
    choose_review_region,
    cover_windows,
    plan_review_round,
)

THANKSGIVING_NOON_PT = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def test_plan_deadline_equals_calendar_sla_deadline():
    for region in Region:
        for hours in range(0, 24 * 7, 5):
            at = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=hours, minutes=7)
            plan = plan_review_round(region, at)
            assert plan.sla_deadline == calendar_for(region).sla_deadline(at)
            assert plan.clock_start == calendar_for(region).clock_start(at)


def test_checkpoints_at_half_three_quarters_and_full_business_time():
    at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 07:00 Pacific
    plan = plan_review_round(Region.AMER, at)
    calendar = calendar_for(Region.AMER)
    used = [calendar.business_time_between(plan.clock_start, c.at) for c in plan.checkpoints]
    assert used == [timedelta(hours=6), timedelta(hours=9), timedelta(hours=12)]
    assert [c.kind for c in plan.checkpoints] == ["warn_50", "warn_75", "breach"]


def test_urgent_on_us_holiday_goes_to_region_that_opens_first():
    # Thanksgiving noon Pacific: AMER closed (holiday), EMEA closed (20:00
    # London), APAC opens first (09:00 Manila = 01:00 UTC).
    region, why = choose_review_region(Region.AMER, THANKSGIVING_NOON_PT, urgent=True)
    assert region == Region.APAC and why == "urgent; AMER closed, APAC opens first"
    plan = plan_review_round(Region.AMER, THANKSGIVING_NOON_PT, urgent=True)
    assert plan.clock_start == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_urgent_goes_to_region_open_now():
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 02:00 Pacific, 10:00 London
    assert choose_review_region(Region.AMER, at, urgent=True) == (
        Region.EMEA,
        "urgent; AMER closed, EMEA open now",
    )


def test_not_urgent_or_home_open_stays_home():
    at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert choose_review_region(Region.AMER, at, urgent=False) == (Region.AMER, None)
    assert choose_review_region(Region.EMEA, at, urgent=True) == (Region.EMEA, None)


def test_cover_windows_start_at_second_last_business_day():
    windows = cover_windows(calendar_for(Region.AMER), THANKSGIVING_NOON_PT)
    # November 2026: the last business days are Fri 27 and Mon 30.
    assert windows[0].start.isoformat() == "2026-11-27T00:00:00-08:00"
    assert windows[0].end.isoformat() == "2026-12-01T00:00:00-08:00"
    assert windows[0].reason == "end of month cover"
    # December: Wed 30 and Thu 31 (quarter end).
    assert windows[1].start.isoformat() == "2026-12-30T00:00:00-08:00"
    assert windows[1].reason == "end of quarter cover"
    plan = plan_review_round(Region.AMER, THANKSGIVING_NOON_PT)
    assert plan.cover_reason(datetime(2026, 11, 27, 9, tzinfo=UTC)) == "end of month cover"
    assert plan.cover_reason(datetime(2026, 11, 26, 9, tzinfo=UTC)) is None


def test_cover_zero_days_means_no_cover():
    assert (
        plan_review_round(Region.AMER, THANKSGIVING_NOON_PT, cover_business_days=0).cover_windows
        == []
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((True, "2027-01-10", 10.0), (False, "2026-12-01", 1e9)),  # urgent first
        ((False, "2026-12-01", 10.0), (False, "2026-12-02", 1e9)),  # earlier start
        ((False, "2026-12-01", 500.0), (False, "2026-12-01", 20.0)),  # more revenue
    ],
)
def test_priority_token_sorts_in_queue_order(a, b):
    at = datetime(2026, 11, 20, tzinfo=UTC)
    first = priority_token(a[0], datetime.fromisoformat(a[1]).date(), a[2], at)
    second = priority_token(b[0], datetime.fromisoformat(b[1]).date(), b[2], at)
    assert first < second


def test_priority_token_breaks_ties_by_submission_order_and_carries_start_date():
    d = datetime(2026, 12, 1).date()
    early = priority_token(False, d, 5.0, datetime(2026, 11, 20, 9, tzinfo=UTC))
    late = priority_token(False, d, 5.0, datetime(2026, 11, 20, 10, tzinfo=UTC))
    assert early < late and start_date_of(early) == d
    items = [
        QueueItem(
            opportunity_id="b",
            stage="om_review",
            region=Region.AMER,
            queue_region=Region.AMER,
            priority=late,
        ),
        QueueItem(
            opportunity_id="a",
            stage="om_review",
            region=Region.AMER,
            queue_region=Region.AMER,
            priority=early,
        ),
        QueueItem(
            opportunity_id="c",
            stage="rejected",
            region=Region.AMER,
            queue_region=Region.AMER,
            priority="",
        ),
    ]
    assert [i.opportunity_id for i in order_queue(items)] == ["a", "b"]


# Instants a first `make run` may happen at: inside hours, inside the 16:30
# cutoff window, just after closing, at night, on a weekend, on a holiday, at
# the first opening after a holiday weekend, across a clock change, on a
# month-end cover day.
_DEMO_STARTS = [
    "2026-11-30T17:05:00+00:00",
    "2026-12-01T16:40:00+01:00",
    "2026-12-01T16:31:00+08:00",
    "2026-12-02T17:00:00-08:00",
    "2026-12-03T03:00:00+00:00",
    "2026-12-05T12:00:00+00:00",
    "2026-12-25T10:00:00+00:00",
    "2026-12-28T09:00:00+00:00",
    "2027-01-01T00:00:00+00:00",
    "2027-03-08T09:01:00-07:00",
    "2027-03-28T01:30:00+00:00",
    "2027-04-30T16:45:00+10:00",
]


@pytest.mark.parametrize("now", _DEMO_STARTS)
@pytest.mark.parametrize("region", list(Region))
def test_a_backdated_demo_submission_has_its_first_warning_due_and_no_breach(region, now):
    at = datetime.fromisoformat(now)
    submitted = backdated_for_warning(region, at)
    plan = plan_review_round(region, submitted)
    warn_50, warn_75, breach = (c.at for c in plan.checkpoints)
    assert plan.clock_start == submitted  # no cutoff pushed the clock past it
    assert warn_50 <= at < warn_75 < breach
    # Due just now: 2 minutes of business time ago, or as long before as the
    # cutoff window is (16:30 to closing) when the cutoff moved the submission.
    calendar = calendar_for(region)
    ago = calendar.business_time_between(warn_50, calendar.next_open(at))
    assert timedelta(minutes=2) <= ago <= timedelta(minutes=2) + timedelta(hours=1, minutes=30)
