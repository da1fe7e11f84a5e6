"""Queue priority: which pending review a specialist should take next."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.messages import ApprovalStatus

_NO_DATE = date.max
_NO_TIME = datetime.min.replace(tzinfo=UTC)
PENDING_STAGES = ("om_review", "finance_review")


def priority_key(status: ApprovalStatus) -> tuple[bool, date, float, datetime]:
    """Urgent first, then the earliest quote start date, then the highest
    revenue, then submission order (of the current round)."""
    submitted = status.round_started_at or status.submitted_at or _NO_TIME
    return (not status.urgent, status.quote_start_date or _NO_DATE, -status.amount, submitted)


def order_queue(items: list[ApprovalStatus]) -> list[ApprovalStatus]:
    """Pending reviews only, in priority order."""
    return sorted((s for s in items if s.stage in PENDING_STAGES), key=priority_key)
