"""Policy computations run as local activities.

They are pure domain functions, but their answers depend on data that
changes between releases (the `holidays` package, the bookings policy, the
booking rules), so the workflow records each answer in its history through
a local activity instead of recomputing it on replay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from domain.bookings import billing_review_due, close_date_for
from domain.calendar import calendar_for
from domain.messages import (
    ActivityName,
    BookingCheckRequest,
    BusinessTimeRequest,
    CloseDate,
    CloseDateRequest,
    ReviewClock,
    ReviewClockRequest,
    ReviewPlanRequest,
)
from domain.policy import Policy
from domain.requirements import Finding, check_booking_requirements
from domain.sla import ReviewPlan, plan_review_round


class PolicyActivities:
    """The policy answers a workflow records, computed with the worker's settings."""

    def __init__(self, settings: Policy) -> None:
        self.settings = settings

    @activity.defn(name=ActivityName.PLAN_REVIEW_ROUND)
    async def plan_review_round(self, request: ReviewPlanRequest) -> ReviewPlan:
        """Who reviews a round, its SLA clock, checkpoints and cover windows."""
        plan = plan_review_round(
            request.region,
            request.submitted_at,
            request.urgent,
            self.settings.calendar,
            self.settings.cover_business_days,
        )
        if request.opportunity is not None:
            plan.billing_review_due = billing_review_due(
                request.opportunity,
                request.first_submitted_at or request.submitted_at,
                self.settings.booking,
            )
        return plan

    @activity.defn(name=ActivityName.BUSINESS_TIME)
    async def business_time(self, request: BusinessTimeRequest) -> float:
        """Business seconds of `request.region` between two instants."""
        calendar = calendar_for(request.region, self.settings.calendar)
        return calendar.business_time_between(request.start, request.end).total_seconds()

    @activity.defn(name=ActivityName.REVIEW_CLOCK)
    async def review_clock(self, request: ReviewClockRequest) -> ReviewClock:
        """Clock start and SLA deadline of a review round (workflows started
        before the `review-plan` patch; newer ones use plan_review_round)."""
        calendar = calendar_for(request.region, self.settings.calendar)
        return ReviewClock(
            clock_start=calendar.clock_start(request.submitted_at),
            sla_deadline=calendar.sla_deadline(request.submitted_at),
        )

    @activity.defn(name=ActivityName.CLOSE_DATE)
    async def close_date(self, request: CloseDateRequest) -> CloseDate:
        """The close date Billing's approval books, per the bookings policy."""
        decision = close_date_for(
            request.opportunity, request.submitted_at, request.approved_at, self.settings.booking
        )
        return CloseDate(
            close_date=decision.close_date, rule=decision.rule, explanation=decision.explanation
        )

    @activity.defn(name=ActivityName.BOOKING_CHECK)
    async def booking_check(self, request: BookingCheckRequest) -> list[Finding]:
        """The booking-requirements pre-check of a review round, plus the
        bookings-policy questions a specialist must acknowledge (a start date
        long past, for instance): judgment, not a silent decision."""
        policy = self.settings.booking
        findings = check_booking_requirements(request.opportunity, policy)
        judgment = close_date_for(
            request.opportunity, request.submitted_at, request.submitted_at, policy
        ).findings
        return findings + [f for f in judgment if f.severity == "acknowledge"]

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.plan_review_round,
            self.business_time,
            self.review_clock,
            self.close_date,
            self.booking_check,
        ]
