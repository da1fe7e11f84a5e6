"""The bookings policy: which close date an approved opportunity gets.

Bookings count by close date, and close dates decide the quarter a deal
counts in, so the rules are exact about calendars: every date is the date in
the policy's zone (Pacific), whatever zone the instant arrived in. Cases the
handbook leaves to a person (an add-on starting weeks ago) come back as
`acknowledge` findings the specialist must confirm, never as a silent choice.

Pure: instants are passed in, never read from a clock. zoneinfo is used here,
not in workflow modules, because Temporal's workflow sandbox proxies it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.models import DealType, Opportunity
from domain.requirements import BookingPolicy, Finding

START_DATE_CONFIRMATION_NEEDED = "START_DATE_CONFIRMATION_NEEDED"
"""Finding code: an add-on or renewal booked as is with a start date well in
the past needs confirmation that the customer had access since then."""


class CloseRule(StrEnum):
    """The bookings-policy rule that decided a close date (`CloseDateDecision.rule`)."""

    APPROVAL_DATE = "approval_date"
    QUARTER_END_SUBMISSION = "quarter_end_submission"
    DEFERRED_TO_START_LEAD = "deferred_to_start_lead"
    START_DATE_PASSED = "start_date_passed"
    LATE_RENEWAL = "late_renewal"
    NEW_SUBSCRIPTION_AND_CLOSED_LOST_RENEWAL = "new_subscription_and_closed_lost_renewal"
    NEW_BUSINESS = "new_business"


class CloseDateDecision(BaseModel):
    """The close date for an approval, the rule that chose it and why.

    `findings` holds the questions a person must acknowledge before the
    booking stands; empty when the policy decided alone.
    """

    model_config = ConfigDict(frozen=True)

    close_date: date
    rule: str
    explanation: str
    findings: list[Finding] = Field(default_factory=list)


def _require_aware(name: str, value: datetime) -> None:
    # A naive instant would be read in the machine's zone, and a close date
    # off by one day moves a deal across a quarter.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3


def close_date_for(
    opportunity: Opportunity,
    submitted_at: datetime,
    approved_at: datetime,
    policy: BookingPolicy | None = None,
) -> CloseDateDecision:
    """Apply the bookings policy to an approval.

    `submitted_at` is the submission of the round being approved (a rejection
    loses the quarter, so a resubmission counts from its own instant);
    `approved_at` is Billing's approval. In order:

    - quote start before the submission date: close on the submission date,
      with the late-renewal outcomes for renewals (see `_past_start`);
    - otherwise the approval date, or the submission date when the approval
      falls in a later quarter (submissions until 23:59 Pacific on a quarter's
      last day book in that quarter);
    - but never earlier than `close_lead_days` before the quote start date.

    Raises:
        ValueError: an instant is naive, or the approval precedes the submission.
    """
    policy = policy or BookingPolicy()
    _require_aware("submitted_at", submitted_at)
    _require_aware("approved_at", approved_at)
    if approved_at < submitted_at:
        raise ValueError(
            f"approved_at {approved_at.isoformat()} is before submitted_at "
            f"{submitted_at.isoformat()}"
        )
    zone = policy.zone
    submitted = submitted_at.astimezone(zone).date()
    approved = approved_at.astimezone(zone).date()
    start = opportunity.quote.start_date

    if start < submitted:
        return _past_start(opportunity, submitted, policy)

    if _quarter(submitted) < _quarter(approved):
        decision = CloseDateDecision(
            close_date=submitted,
            rule=CloseRule.QUARTER_END_SUBMISSION,
            explanation=f"Submitted on {submitted} ({policy.timezone}) and approved on "
            f"{approved}: a submission before the quarter ends books in its quarter.",
        )
    else:
        decision = CloseDateDecision(
            close_date=approved,
            rule=CloseRule.APPROVAL_DATE,
            explanation=f"Closes on the approval date {approved}.",
        )

    earliest = start - timedelta(days=policy.close_lead_days)
    if earliest > decision.close_date:
        return CloseDateDecision(
            close_date=earliest,
            rule=CloseRule.DEFERRED_TO_START_LEAD,
            explanation=f"The quote starts on {start}, and a deal closes no earlier than "
            f"{policy.close_lead_days} days before its start date.",
        )
    return decision


def _past_start(
    opportunity: Opportunity, submitted: date, policy: BookingPolicy
) -> CloseDateDecision:
    """Close date when the quote started before the submission date.

    Always the submission date; what differs is how the deal must be booked.
    The access confirmation is asked only where the deal is booked as is with
    its old start date: a new business start resets to the processing date, and
    a renewal restructured for lateness no longer starts on the old date.
    """
    start = opportunity.quote.start_date
    days_late = (submitted - start).days
    needs_confirmation = False

    if opportunity.type == DealType.RENEWAL:
        if days_late > policy.late_renewal_new_subscription_days:
            rule = CloseRule.NEW_BUSINESS
            explanation = (
                f"The renewal was submitted {days_late} days after its renewal date {start}, "
                f"more than {policy.late_renewal_new_subscription_days}: book it as new "
                "business, closing on the submission date."
            )
        elif days_late > policy.late_renewal_as_is_days:
            rule = CloseRule.NEW_SUBSCRIPTION_AND_CLOSED_LOST_RENEWAL
            explanation = (
                f"The renewal was submitted {days_late} days after its renewal date {start}, "
                f"more than {policy.late_renewal_as_is_days}: book a new subscription closing "
                "on the submission date and close the renewal as lost."
            )
        else:
            rule = CloseRule.LATE_RENEWAL
            explanation = (
                f"The renewal was submitted {days_late} days after its renewal date {start}, "
                f"within {policy.late_renewal_as_is_days}: it closes on the submission date."
            )
            needs_confirmation = days_late > policy.past_start_confirmation_days
    else:
        rule = CloseRule.START_DATE_PASSED
        explanation = (
            f"The quote start date {start} had passed when submitted: it closes on "
            f"the submission date {submitted}."
        )
        if opportunity.type == DealType.NEW_BUSINESS:
            explanation += " The start date resets to the processing date."
        else:
            needs_confirmation = days_late > policy.past_start_confirmation_days

    findings = []
    if needs_confirmation:
        findings.append(
            Finding(
                code=START_DATE_CONFIRMATION_NEEDED,
                field="quote.start_date",
                severity="acknowledge",
                message=f"The quote start date {start} is {days_late} days before submission: "
                "confirm the customer has had access since then before booking it as is.",
            )
        )
    return CloseDateDecision(
        close_date=submitted, rule=rule, explanation=explanation, findings=findings
    )


def billing_review_due(
    opportunity: Opportunity, submitted_at: datetime, policy: BookingPolicy | None = None
) -> datetime | None:
    """When Billing's review becomes due for a far-future start, else None.

    A quote starting more than `close_lead_days` calendar days after the
    submission date cannot close before (start - lead days), so OM approves
    and Billing reviews from 00:00 Pacific that day; the workflow waits until
    this instant. The result is aware, in the policy's zone (a DST-correct
    midnight, not a fixed UTC offset).

    Raises:
        ValueError: `submitted_at` is naive.
    """
    policy = policy or BookingPolicy()
    _require_aware("submitted_at", submitted_at)
    zone = policy.zone
    submitted = submitted_at.astimezone(zone).date()
    start = opportunity.quote.start_date
    if (start - submitted).days <= policy.close_lead_days:
        return None
    return datetime.combine(start - timedelta(days=policy.close_lead_days), time.min, tzinfo=zone)
