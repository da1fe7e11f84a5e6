"""Bookings policy: close dates around quarter end, DST, late renewals and
past start dates, and when Billing's review of a far-future start is due.

Instants are given in UTC where the Pacific date differs from the UTC date,
so a test fails if the code ever reads dates in UTC or at a fixed offset.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.bookings import (
    START_DATE_CONFIRMATION_NEEDED,
    CloseRule,
    billing_review_due,
    close_date_for,
)
from domain.models import Opportunity
from domain.requirements import BookingPolicy

PACIFIC = ZoneInfo("America/Los_Angeles")


def opportunity(
    payload: dict[str, Any],
    start: date,
    deal_type: str = "new_business",
) -> Opportunity:
    payload["type"] = deal_type
    payload["quote"]["start_date"] = start.isoformat()
    payload["quote"]["end_date"] = (start + timedelta(days=364)).isoformat()
    return Opportunity.model_validate(payload)


def pacific(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PACIFIC, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- ordinary approvals and the 15-day lead ---------------------------------


def test_closes_on_the_approval_date_when_start_is_near(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 10))
    decision = close_date_for(opp, pacific(2026, 6, 1, 10), pacific(2026, 6, 2, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 6, 2), CloseRule.APPROVAL_DATE)
    assert decision.findings == []


def test_far_future_start_defers_close_to_fifteen_days_before_start(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 12, 1))
    decision = close_date_for(opp, pacific(2026, 10, 1, 10), pacific(2026, 10, 2, 9))
    assert (decision.close_date, decision.rule) == (
        date(2026, 11, 16),
        CloseRule.DEFERRED_TO_START_LEAD,
    )


def test_approval_exactly_fifteen_days_before_start_is_not_deferred(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 16))
    decision = close_date_for(opp, pacific(2026, 5, 30, 10), pacific(2026, 6, 1, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 6, 1), CloseRule.APPROVAL_DATE)


def test_start_today_closes_on_the_approval_date(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 1), "add_on")
    decision = close_date_for(opp, pacific(2026, 6, 1, 10), pacific(2026, 6, 1, 15))
    assert (decision.close_date, decision.rule) == (date(2026, 6, 1), CloseRule.APPROVAL_DATE)


def test_lead_days_are_policy(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 12, 1))
    decision = close_date_for(
        opp, pacific(2026, 10, 1, 10), pacific(2026, 10, 2, 9), BookingPolicy(close_lead_days=30)
    )
    assert decision.close_date == date(2026, 11, 1)


# --- quarter end --------------------------------------------------------------


def test_submission_before_midnight_on_quarter_end_books_in_that_quarter(
    example_payload: dict,
) -> None:
    opp = opportunity(example_payload, date(2027, 1, 10))
    submitted = utc(2027, 1, 1, 7, 30)  # 2026-12-31 23:30 Pacific
    decision = close_date_for(opp, submitted, pacific(2027, 1, 1, 9))
    assert (decision.close_date, decision.rule) == (
        date(2026, 12, 31),
        CloseRule.QUARTER_END_SUBMISSION,
    )


def test_submission_at_2359_pacific_still_counts(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2027, 1, 10))
    decision = close_date_for(opp, pacific(2026, 12, 31, 23, 59, 59), pacific(2027, 1, 4, 9))
    assert decision.close_date == date(2026, 12, 31)


def test_submission_after_midnight_pacific_is_not_in_the_old_quarter(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2027, 1, 10))
    submitted = utc(2027, 1, 1, 8, 10)  # 2027-01-01 00:10 Pacific
    decision = close_date_for(opp, submitted, pacific(2027, 1, 2, 9))
    assert (decision.close_date, decision.rule) == (date(2027, 1, 2), CloseRule.APPROVAL_DATE)


def test_month_end_that_is_not_quarter_end_closes_on_approval(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 12, 5))
    decision = close_date_for(opp, pacific(2026, 11, 30, 23, 30), pacific(2026, 12, 1, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 12, 1), CloseRule.APPROVAL_DATE)


def test_quarter_end_submission_still_waits_for_the_start_date_lead(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2027, 1, 20))
    decision = close_date_for(opp, pacific(2026, 12, 31, 23, 30), pacific(2027, 1, 1, 9))
    assert (decision.close_date, decision.rule) == (
        date(2027, 1, 5),
        CloseRule.DEFERRED_TO_START_LEAD,
    )


def test_quarter_end_after_dst_started_uses_daylight_time(example_payload: dict) -> None:
    # 07:30 UTC on 1 April is 00:30 PDT: already Q2. At a fixed PST offset it
    # would read 23:30 on 31 March and wrongly book in Q1.
    opp = opportunity(example_payload, date(2026, 4, 10))
    decision = close_date_for(opp, utc(2026, 4, 1, 7, 30), utc(2026, 4, 1, 16))
    assert (decision.close_date, decision.rule) == (date(2026, 4, 1), CloseRule.APPROVAL_DATE)
    decision = close_date_for(opp, utc(2026, 4, 1, 6, 30), utc(2026, 4, 1, 16))
    assert (decision.close_date, decision.rule) == (
        date(2026, 3, 31),
        CloseRule.QUARTER_END_SUBMISSION,
    )


# --- DST ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "submitted",
    [
        pacific(2026, 11, 1, 1, 30, fold=0),  # first 01:30, PDT
        pacific(2026, 11, 1, 1, 30, fold=1),  # second 01:30, PST
        utc(2026, 11, 1, 8, 30),
        utc(2026, 11, 1, 9, 30),
    ],
)
def test_submission_in_the_ambiguous_dst_hour_has_the_pacific_date(
    example_payload: dict, submitted: datetime
) -> None:
    opp = opportunity(example_payload, date(2026, 10, 20))
    decision = close_date_for(opp, submitted, pacific(2026, 11, 3, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 11, 1), CloseRule.START_DATE_PASSED)


# --- start date already passed --------------------------------------------------


def test_passed_start_closes_on_the_submission_date(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 5, 1))
    decision = close_date_for(opp, pacific(2026, 6, 15, 10), pacific(2026, 6, 20, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 6, 15), CloseRule.START_DATE_PASSED)
    assert decision.findings == []  # new business: start resets, nothing to ask
    assert "processing date" in decision.explanation


def test_add_on_start_two_weeks_in_the_past_is_booked_as_is(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 1), "add_on")
    decision = close_date_for(opp, pacific(2026, 6, 15, 10), pacific(2026, 6, 16, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 6, 15), CloseRule.START_DATE_PASSED)
    assert decision.findings == []


def test_add_on_start_more_than_two_weeks_in_the_past_needs_confirmation(
    example_payload: dict,
) -> None:
    opp = opportunity(example_payload, date(2026, 6, 1), "add_on")
    decision = close_date_for(opp, pacific(2026, 6, 16, 10), pacific(2026, 6, 17, 9))
    assert decision.close_date == date(2026, 6, 16)
    [finding] = decision.findings
    assert (finding.code, finding.field, finding.severity) == (
        START_DATE_CONFIRMATION_NEEDED,
        "quote.start_date",
        "acknowledge",
    )


# --- late renewals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_late", "rule", "confirm"),
    [
        (1, CloseRule.LATE_RENEWAL, False),
        (14, CloseRule.LATE_RENEWAL, False),
        (15, CloseRule.LATE_RENEWAL, True),
        (30, CloseRule.LATE_RENEWAL, True),
        (31, CloseRule.NEW_SUBSCRIPTION_AND_CLOSED_LOST_RENEWAL, False),
        (180, CloseRule.NEW_SUBSCRIPTION_AND_CLOSED_LOST_RENEWAL, False),
        (181, CloseRule.NEW_BUSINESS, False),
    ],
)
def test_late_renewal_outcome_follows_the_30_and_180_day_rules(
    example_payload: dict, days_late: int, rule: CloseRule, confirm: bool
) -> None:
    submitted = pacific(2026, 9, 15, 10)
    opp = opportunity(example_payload, date(2026, 9, 15) - timedelta(days=days_late), "renewal")
    decision = close_date_for(opp, submitted, pacific(2026, 9, 18, 9))
    assert (decision.close_date, decision.rule) == (date(2026, 9, 15), rule)
    assert [f.code for f in decision.findings] == (
        [START_DATE_CONFIRMATION_NEEDED] if confirm else []
    )


def test_renewal_submitted_before_its_renewal_date_follows_the_lead_rule(
    example_payload: dict,
) -> None:
    opp = opportunity(example_payload, date(2026, 10, 31), "renewal")
    decision = close_date_for(opp, pacific(2026, 9, 15, 10), pacific(2026, 9, 18, 9))
    assert (decision.close_date, decision.rule) == (
        date(2026, 10, 16),
        CloseRule.DEFERRED_TO_START_LEAD,
    )


# --- argument checks ------------------------------------------------------------


def test_naive_instants_are_refused(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 10))
    aware, naive = pacific(2026, 6, 1, 10), datetime(2026, 6, 1, 10)
    with pytest.raises(ValueError, match="submitted_at must be timezone-aware"):
        close_date_for(opp, naive, aware)
    with pytest.raises(ValueError, match="approved_at must be timezone-aware"):
        close_date_for(opp, aware, naive)
    with pytest.raises(ValueError, match="submitted_at must be timezone-aware"):
        billing_review_due(opp, naive)


def test_approval_before_submission_is_refused(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 6, 10))
    with pytest.raises(ValueError, match="before submitted_at"):
        close_date_for(opp, pacific(2026, 6, 2, 10), pacific(2026, 6, 1, 10))


# --- billing review due -------------------------------------------------------


def test_billing_review_due_at_pacific_midnight_fifteen_days_before_start(
    example_payload: dict,
) -> None:
    opp = opportunity(example_payload, date(2026, 12, 1))
    due = billing_review_due(opp, pacific(2026, 10, 1, 10))
    assert due == pacific(2026, 11, 16)
    assert due is not None and due.utcoffset() == timedelta(hours=-8)


@pytest.mark.parametrize("start", [date(2026, 6, 16), date(2026, 6, 5), date(2026, 5, 1)])
def test_no_billing_wait_when_start_is_within_fifteen_days(
    example_payload: dict, start: date
) -> None:
    opp = opportunity(example_payload, start)
    assert billing_review_due(opp, pacific(2026, 6, 1, 10)) is None


def test_billing_review_counts_days_from_the_pacific_submission_date(example_payload: dict) -> None:
    # 05:00 UTC on 1 Oct is 22:00 on 30 Sep Pacific: the start is 16 days later.
    opp = opportunity(example_payload, date(2026, 10, 16))
    assert billing_review_due(opp, utc(2026, 10, 1, 5)) == utc(2026, 10, 1, 7)


@pytest.mark.parametrize(
    ("start", "due_utc"),
    [
        (date(2026, 11, 16), utc(2026, 11, 1, 7)),  # midnight before fall-back: PDT
        (date(2027, 3, 29), utc(2027, 3, 14, 8)),  # midnight before spring-forward: PST
        (date(2027, 3, 30), utc(2027, 3, 15, 7)),  # first midnight in PDT
    ],
)
def test_billing_review_midnight_is_dst_correct(
    example_payload: dict, start: date, due_utc: datetime
) -> None:
    opp = opportunity(example_payload, start)
    assert billing_review_due(opp, utc(2026, 9, 1, 17)) == due_utc


def test_billing_review_due_agrees_with_the_deferred_close_date(example_payload: dict) -> None:
    opp = opportunity(example_payload, date(2026, 12, 1))
    submitted = pacific(2026, 10, 1, 10)
    due = billing_review_due(opp, submitted)
    assert due is not None
    assert close_date_for(opp, submitted, due).close_date == due.date()
