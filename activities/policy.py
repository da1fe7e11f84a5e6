"""Policy computations run as local activities.

They are pure domain functions, but their answers depend on data that
changes between releases (the `holidays` package, the bookings policy), so
the workflow records each answer in its history through a local activity
instead of recomputing it on replay.
"""

from __future__ import annotations

from temporalio import activity

from domain.bookings import close_date_for
from domain.calendar import calendar_for
from domain.messages import (
    ActivityName,
    CloseDate,
    CloseDateRequest,
    ReviewClock,
    ReviewClockRequest,
)


@activity.defn(name=ActivityName.REVIEW_CLOCK)
async def review_clock(request: ReviewClockRequest) -> ReviewClock:
    """Clock start (cutoff rule) and SLA deadline of a review round."""
    calendar = calendar_for(request.region)
    return ReviewClock(
        clock_start=calendar.clock_start(request.submitted_at),
        sla_deadline=calendar.sla_deadline(request.submitted_at),
    )


@activity.defn(name=ActivityName.CLOSE_DATE)
async def close_date(request: CloseDateRequest) -> CloseDate:
    """The close date Billing's approval books, per the bookings policy."""
    decision = close_date_for(request.opportunity, request.submitted_at, request.approved_at)
    return CloseDate(
        close_date=decision.close_date, rule=decision.rule, explanation=decision.explanation
    )


POLICY_ACTIVITIES = [review_clock, close_date]
