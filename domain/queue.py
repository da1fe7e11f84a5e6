"""Queue priority: which pending review a specialist should take next.

Urgent first, then the earliest quote start date, then the highest revenue,
then submission order. The rule is encoded once, as a string whose
lexical order is queue order, so the workflow can publish it as a search
attribute and any lister can sort by it without opening workflows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field

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


def submitted_at_of(token: str) -> datetime | None:
    """The round's submission instant inside a priority token (UTC)."""
    try:
        return datetime.strptime(token.split("|")[3], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def review_token(
    round_: int,
    hard: int,
    judgment: int,
    clock_start: datetime | None,
    reviewable_from: datetime | None,
    handoff_reason: str | None,
) -> str:
    """`2|1|0|<clock start>|<Billing from>|<handoff reason>`: what a queue row
    needs to know about the open round, in one keyword search attribute (a
    namespace has few attributes of each type, and these are only read, never
    queried). Counts are -1 while the pre-check has not answered yet."""
    return "|".join(
        [
            str(round_),
            str(hard),
            str(judgment),
            clock_start.astimezone(UTC).isoformat() if clock_start else "",
            reviewable_from.astimezone(UTC).isoformat() if reviewable_from else "",
            (handoff_reason or "").replace("|", "/"),
        ]
    )


class ReviewFacts(BaseModel):
    """The parts of a review token (`review_token`)."""

    round: int | None = None
    findings_hard: int | None = None
    findings_judgment: int | None = None
    clock_start: datetime | None = None
    reviewable_from: datetime | None = None
    handoff_reason: str | None = None


def parse_review_token(token: str | None) -> ReviewFacts:
    """The facts inside a review token; all None for workflows that never
    published one (histories started before the queue-row patch)."""
    parts = (token or "").split("|", 5)
    if len(parts) != 6:
        return ReviewFacts()
    round_, hard, judgment, clock, billing, handoff = parts
    try:
        return ReviewFacts(
            round=int(round_),
            findings_hard=int(hard) if int(hard) >= 0 else None,
            findings_judgment=int(judgment) if int(judgment) >= 0 else None,
            clock_start=datetime.fromisoformat(clock) if clock else None,
            reviewable_from=datetime.fromisoformat(billing) if billing else None,
            handoff_reason=handoff or None,
        )
    except ValueError:
        return ReviewFacts()


def start_date_of(token: str) -> date | None:
    """The quote start date inside a priority token."""
    try:
        found = date.fromisoformat(token.split("|")[1])
    except (IndexError, ValueError):
        return None
    return None if found == date.max else found


class QueueItem(BaseModel):
    """One open review as a queue lists it (from search attributes)."""

    opportunity_id: str = Field(description="Salesforce opportunity id")
    stage: str = Field(description="`om_review` or `finance_review`")
    region: Region = Field(description="Home region: the account's")
    queue_region: Region = Field(
        description="Region whose queue holds the round (differs from region after a handoff)"
    )
    urgent: bool = Field(default=False, description="Marked urgent by the rep")
    amount: float = Field(default=0.0, description="Opportunity amount, in `currency`")
    quote_start_date: date | None = Field(default=None, description="Quote start date")
    sla_deadline: datetime | None = Field(
        default=None, description="The OM round's 12-business-hour deadline (UTC)"
    )
    breached: bool = Field(default=False, description="The OM SLA deadline passed")
    assignee: str | None = Field(
        default=None,
        description="The Order Management specialist who approved the round (Billing's "
        "review); null while nobody has taken it",
    )
    priority: str = Field(default="", description="Sort key: queue order is its order")
    cover: bool = Field(
        default=False,
        description="Listed for a region other than its queue region (see cover_reason)",
    )
    name: str | None = Field(default=None, description="Opportunity name")
    account_name: str | None = Field(default=None, description="Customer account name")
    currency: str | None = Field(default=None, description="ISO 4217 code of `amount`")
    round: int | None = Field(
        default=None, description="Review round, 1 for the first submission; null if unknown"
    )
    resubmitted: bool = Field(default=False, description="round > 1")
    findings_hard: int | None = Field(
        default=None,
        description="Pre-check findings that must be fixed (null: unknown or not checked yet)",
    )
    findings_judgment: int | None = Field(
        default=None,
        description="Pre-check findings the specialist must acknowledge (judgment calls)",
    )
    clock_start: datetime | None = Field(
        default=None, description="When the round's OM SLA clock starts (or started)"
    )
    handoff_reason: str | None = Field(
        default=None, description="Why the round is queued outside its home region"
    )
    cover_reason: str | None = Field(
        default=None,
        description="Why the region asked for may take this row although it is not its queue "
        "(SLA breached, end of month/quarter cover); null in its own queue",
    )
    reviewable_from: datetime | None = Field(
        default=None,
        description="Billing may approve only from this instant (quote start far ahead); "
        "null when it may now",
    )


def order_queue(items: list[QueueItem]) -> list[QueueItem]:
    """Pending reviews only, in priority order."""
    return sorted((i for i in items if i.stage in PENDING_STAGES), key=lambda i: i.priority)


BREACH_COVER = "SLA breached: escalated to every region"
"""The reason a breached review is listed in every region's queue (the
workflow's own words when it records who took it)."""

CoverRule = Callable[[Region], str | None]
"""Why any region may take reviews of a home region now (a cover window), or None."""


def cover_reason_for(item: QueueItem, region: Region, cover: CoverRule | None) -> str | None:
    """Why `region`, not the row's queue region, may take it now, or None."""
    if item.queue_region == region:
        return None
    if item.breached:
        return BREACH_COVER
    return cover(item.region) if cover is not None else None


def for_region(
    items: list[QueueItem], region: Region | None, cover: CoverRule | None = None
) -> list[QueueItem]:
    """What `region`'s specialists see of every open review, in priority order:
    their own queue (work handed off to them included) and the reviews of
    other regions they may take now, flagged `cover` with the reason: breached
    ones, and during a cover window (`cover`, by home region) every review of
    that home region. The same rule as the visibility query of
    `Approvals.list_queue(region)`, applied to a listing of all regions (whose
    items are not flagged)."""
    if region is None:
        return order_queue(items)
    rows = []
    for i in items:
        if i.queue_region == region:
            rows.append(i)
        elif (reason := cover_reason_for(i, region, cover)) is not None:
            rows.append(i.model_copy(update={"cover": True, "cover_reason": reason}))
    return order_queue(rows)
