"""SLA countdown of queue rows: business time left and the amber/red levels."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import TypeAdapter

from api.queue_view import QueueEntry, queue_entries, queue_json, sla_clock
from domain.calendar import CalendarPolicy, RegionHours, calendar_for
from domain.models import Region
from domain.queue import QueueItem

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)  # Tuesday 10:00 in Los Angeles


def around_the_clock() -> CalendarPolicy:
    hours = RegionHours(
        time_zone="UTC",
        open=time(0),
        close=time(23, 59, 59, 999999),
        cutoff=time(23, 59, 59, 999998),
        workdays=(0, 1, 2, 3, 4, 5, 6),
    )
    return CalendarPolicy(regions={r: hours for r in Region})


@pytest.mark.parametrize(
    ("hours_left", "level"),
    [(12, "ok"), (6.01, "ok"), (6, "amber"), (3.01, "amber"), (3, "red"), (0.5, "red")],
)
def test_amber_from_half_the_sla_used_and_red_from_three_quarters(hours_left, level):
    clock = sla_clock(NOW + timedelta(hours=hours_left), "AMER", around_the_clock(), NOW)
    assert clock is not None and clock.level == level and not clock.breached
    assert clock.left_seconds == pytest.approx(hours_left * 3600)


def test_past_deadline_or_recorded_breach_is_red_and_breached():
    overdue = sla_clock(NOW - timedelta(hours=1), "AMER", around_the_clock(), NOW)
    assert overdue.breached and overdue.level == "red" and overdue.left_seconds == -3600
    recorded = sla_clock(NOW + timedelta(hours=10), "AMER", around_the_clock(), NOW, True)
    assert recorded.breached and recorded.level == "red"


def test_time_left_counts_business_hours_of_the_queue_region_only():
    # Default AMER calendar (07:00-17:00 Los Angeles): from Tuesday 10:00 to
    # Wednesday 10:00 local is 7 h on Tuesday plus 3 h on Wednesday.
    deadline = NOW + timedelta(days=1)
    clock = sla_clock(deadline, Region.AMER, CalendarPolicy(), NOW)
    assert clock.left_seconds == 10 * 3600
    # Thanksgiving (Thursday 26 November 2026) does not count in AMER.
    thursday = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # Wednesday 15:00 local
    friday_9 = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # Friday 09:00 local
    clock = sla_clock(friday_9, Region.AMER, CalendarPolicy(), thursday)
    assert clock.left_seconds == 4 * 3600


def test_no_clock_without_a_deadline():
    assert sla_clock(None, "AMER", CalendarPolicy(), NOW) is None


def test_queue_entries_count_down_om_review_only():
    deadline = NOW + timedelta(hours=4)
    om = QueueItem(
        opportunity_id="A",
        stage="om_review",
        region=Region.AMER,
        queue_region=Region.AMER,
        sla_deadline=deadline,
    )
    finance = om.model_copy(update={"opportunity_id": "B", "stage": "finance_review"})
    (om_entry, om_clock), (fin_entry, fin_clock) = queue_entries(
        [om, finance], around_the_clock(), NOW
    )
    assert om_entry.business_time_left_seconds == 4 * 3600 and om_clock.level == "amber"
    assert fin_entry.business_time_left_seconds is None and fin_clock is None
    assert om_entry.model_dump()["opportunity_id"] == "A"


def test_the_apis_fast_json_is_the_queue_entries_json():
    """`queue_json` serializes the items' fields directly; it must give the
    very bytes `QueueEntry` would, whatever the row holds."""
    now = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
    items = [
        QueueItem(
            opportunity_id="006A",
            stage="om_review",
            region=Region.AMER,
            queue_region=Region.APAC,
            urgent=True,
            amount=1234.5,
            quote_start_date=date(2026, 12, 1),
            sla_deadline=now + timedelta(hours=30),
            priority="0|2026-12-01|x",
            cover=True,
        ),
        QueueItem(
            opportunity_id="006B",
            stage="om_review",
            region=Region.EMEA,
            queue_region=Region.EMEA,
            sla_deadline=now - timedelta(days=2),
            breached=True,
            assignee="om.emea@example.com",
        ),
        QueueItem(opportunity_id="006C", stage="om_review", region="AMER", queue_region="AMER"),
        QueueItem(
            opportunity_id="006D",
            stage="finance_review",
            region=Region.APAC,
            queue_region=Region.APAC,
            sla_deadline=now,
        ),
    ]
    policy = CalendarPolicy()
    expected = TypeAdapter(list[QueueEntry]).dump_json(
        [entry for entry, _ in queue_entries(items, policy, now)]
    )
    assert queue_json(items, policy, now) == expected
    assert b'"business_time_left_seconds":null' in expected  # the finance row


def test_a_round_submitted_after_hours_says_when_its_clock_starts():
    """Submitted Monday 17:00 Manila, after the 16:30 cut-off: the clock starts
    Tuesday 09:00 APAC, and no countdown is shown before then."""
    monday_17_manila = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    tuesday_9_manila = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    item = QueueItem(
        opportunity_id="006E",
        stage="om_review",
        region=Region.APAC,
        queue_region=Region.APAC,
        clock_start=tuesday_9_manila,
        sla_deadline=calendar_for(Region.APAC, CalendarPolicy()).add_business_hours(
            tuesday_9_manila, timedelta(hours=12)
        ),
    )
    ((entry, clock),) = queue_entries([item], CalendarPolicy(), monday_17_manila)
    assert clock is None and entry.clock_started is False
    assert entry.business_time_left_seconds is None
    assert entry.clock == "clock starts Tue 01 Dec 09:00 APAC (UTC+08:00)"
    ((later, running),) = queue_entries(
        [item], CalendarPolicy(), tuesday_9_manila + timedelta(hours=1)
    )
    assert running is not None and later.clock_started is True
    assert later.clock.startswith("11h 00m business left, due Wed 02 Dec")
    assert later.clock.endswith("APAC (UTC+08:00)")


def test_billing_rows_carry_their_own_dates_not_the_om_sla():
    """A far-future start: reviewable from its date (not before), due that
    day; a near one: reviewable now, due by the end of the submission's
    quarter on the bookings clock (Pacific)."""
    now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    later = datetime(2026, 12, 20, 8, 0, tzinfo=UTC)  # 00:00 Pacific
    future = QueueItem(
        opportunity_id="006F",
        stage="finance_review",
        region=Region.EMEA,
        queue_region=Region.EMEA,
        sla_deadline=now - timedelta(hours=3),
        reviewable_from=later,
        priority="1|2027-01-04|x|20261130T100000.000000",
    )
    due_now = future.model_copy(update={"opportunity_id": "006G", "reviewable_from": None})
    (f, f_clock), (d, d_clock) = queue_entries([future, due_now], CalendarPolicy(), now)
    assert f_clock is None and d_clock is None
    assert f.reviewable_now is False
    assert f.clock == "reviewable from Sun 20 Dec 00:00 Pacific (UTC-08:00)"
    assert f.billing_due == datetime(2026, 12, 21, 8, 0, tzinfo=UTC)
    assert d.reviewable_now is True
    assert d.billing_due == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # end of Q4 in Pacific
    assert d.clock == "Billing due by Fri 01 Jan 00:00 Pacific (UTC-08:00)"
    assert "AMER" not in d.clock and d.deadline_local and "Pacific" in d.deadline_local
    assert queue_json([future, due_now], CalendarPolicy(), now) == TypeAdapter(
        list[QueueEntry]
    ).dump_json([f, d])


def test_billing_rows_of_workflows_without_the_queue_row_attribute_follow_the_rule():
    """A workflow from before the queue-row patch publishes no Billing date:
    the row derives it from the quote start and submission in its priority."""
    now = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    old = QueueItem(
        opportunity_id="006H",
        stage="finance_review",
        region=Region.AMER,
        queue_region=Region.AMER,
        quote_start_date=date(2027, 1, 4),
        priority="1|2027-01-04|x|20261130T100000.000000",
    )
    near = old.model_copy(update={"opportunity_id": "006I", "quote_start_date": date(2026, 12, 10)})
    (o, _), (n, _) = queue_entries([old, near], CalendarPolicy(), now)
    assert o.reviewable_now is False
    assert o.reviewable_from == datetime(2026, 12, 20, 8, 0, tzinfo=UTC)  # 00:00 Pacific
    assert n.reviewable_now is True and n.reviewable_from is None
    assert queue_json([old, near], CalendarPolicy(), now) == TypeAdapter(
        list[QueueEntry]
    ).dump_json([o, n])
