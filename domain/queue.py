"""Queue priority: which pending review a specialist should take next.

Urgent first, then the earliest quote start date, then the highest revenue,
then submission order. The rule is encoded once, as a string whose
lexical order is queue order, so the workflow can publish it as a search
attribute and any lister can sort by it without opening workflows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel

from domain.models import Region

PENDING_STAGES = ("om_review", "finance_review")
_AMOUNT_CEILING_CENTS = 10**15


def priority_token(
    urgent: bool, start_date: date | None, amount: float, submitted_at: datetime
) -> str:
    """`0|2026-12-01|<inverted cents>|<UTC submission>`: sorts in queue order."""
    inverted = max(0, _AMOUNT_CEILING_CENTS - round(amount * 100))
    submitted = submitted_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")
    return (
        f"{0 if urgent else 1}|{(start_date or date.max).isoformat()}|{inverted:016d}|{submitted}"
    )


def start_date_of(token: str) -> date | None:
    """The quote start date inside a priority token."""
    try:
        found = date.fromisoformat(token.split("|")[1])
    except (IndexError, ValueError):
        return None
    return None if found == date.max else found


class QueueItem(BaseModel):
    """One open review as a queue lists it (from search attributes)."""

    opportunity_id: str
    stage: str
    region: Region
    queue_region: Region
    urgent: bool = False
    amount: float = 0.0
    quote_start_date: date | None = None
    sla_deadline: datetime | None = None
    breached: bool = False
    assignee: str | None = None
    priority: str = ""
    cover: bool = False
    """Listed for a region other than its queue region (breached, cover)."""


def order_queue(items: list[QueueItem]) -> list[QueueItem]:
    """Pending reviews only, in priority order."""
    return sorted((i for i in items if i.stage in PENDING_STAGES), key=lambda i: i.priority)


def for_region(items: list[QueueItem], region: Region | None) -> list[QueueItem]:
    """What `region`'s specialists see of every open review, in priority order:
    their own queue (work handed off to them included) and the breached reviews
    of other regions, flagged `cover`. The same rule as the visibility query of
    `Approvals.list_queue(region)`, applied to a listing of all regions (whose
    items are not flagged)."""
    if region is None:
        return order_queue(items)
    return order_queue(
        [
            i if i.queue_region == region else i.model_copy(update={"cover": True})
            for i in items
            if i.queue_region == region or i.breached
        ]
    )
