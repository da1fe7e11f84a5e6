"""The daily license delivery review: what one run found, and the business-day
arithmetic behind "a ticket open for more than N business days".

Pure: no clock reads, no network. The activity hands in `run_at` and the
ticket's opening instant; the region's business calendar (holiday data
included) decides which days count, so a ticket opened on a Friday before a
holiday Monday is not "late" on Tuesday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from domain.calendar import BusinessCalendar
from domain.models import Region

ReviewOutcome = Literal["delivered", "ticket_opened", "ticket_open", "left_to_workflow"]

# Tickets open for more than this many business days are called out in the
# report. A module default until `Settings` grows a field for it.
DEFAULT_OPEN_DAYS_THRESHOLD = 3
# The handbook's window: Closed Won deals of the last 30 days are reviewed.
DEFAULT_LOOKBACK_DAYS = 30
_CLOSED_TICKET = frozenset({"solved", "closed"})


class LicenseReviewItem(BaseModel):
    """What the review did about one Closed Won self-managed opportunity."""

    opportunity_id: str
    name: str = ""
    close_date: date | None = None
    outcome: ReviewOutcome
    ticket_id: int | None = None
    ticket_status: str | None = Field(
        default=None, description="The support desk's status of the ticket when reviewed"
    )
    ticket_opened_at: datetime | None = None
    business_days_open: int | None = Field(
        default=None, description="Business days of the region the ticket has been open"
    )
    license_delivery_date: date | None = Field(
        default=None, description="The date written to Salesforce (outcome delivered)"
    )

    @property
    def ticket_is_open(self) -> bool:
        """A ticket Support has not solved or closed yet."""
        return self.ticket_id is not None and (self.ticket_status or "") not in _CLOSED_TICKET


class LicenseReviewReport(BaseModel):
    """One review run of one region: stored as JSON for the KPI work and
    printed by `om licenses report`. The three summary lists repeat what
    `items` say, by opportunity id, so a reader needs no rules of its own."""

    region: Region
    run_at: datetime
    run_date: date | None = Field(
        default=None, description="The region's local date of the run (names the stored file)"
    )
    business_day: bool = Field(
        default=True, description="False: not a business day in the region, nothing reviewed"
    )
    open_days_threshold: int = DEFAULT_OPEN_DAYS_THRESHOLD
    items: list[LicenseReviewItem] = Field(default_factory=list)
    delivered_today: list[str] = Field(
        default_factory=list, description="Licenses found delivered; their date was written"
    )
    tickets_opened: list[str] = Field(
        default_factory=list, description="Opportunities a Support ticket was opened for"
    )
    tickets_open_over_n_days: list[str] = Field(
        default_factory=list,
        description="Opportunities whose ticket is open for more than the threshold",
    )
    failed: dict[str, str] = Field(
        default_factory=dict,
        description="Opportunities the run could not review (one line each); the next run retries",
    )

    @classmethod
    def build(
        cls,
        region: Region,
        run_at: datetime,
        run_date: date,
        items: list[LicenseReviewItem],
        open_days_threshold: int = DEFAULT_OPEN_DAYS_THRESHOLD,
        failed: dict[str, str] | None = None,
    ) -> LicenseReviewReport:
        """The report of `items`, its summary lists derived in one place."""
        return cls(
            region=region,
            run_at=run_at,
            run_date=run_date,
            open_days_threshold=open_days_threshold,
            items=items,
            delivered_today=[i.opportunity_id for i in items if i.outcome == "delivered"],
            tickets_opened=[i.opportunity_id for i in items if i.outcome == "ticket_opened"],
            tickets_open_over_n_days=[
                i.opportunity_id
                for i in items
                if i.ticket_is_open and open_over(i.business_days_open, open_days_threshold)
            ],
            failed=dict(failed or {}),
        )

    @classmethod
    def skipped(cls, region: Region, run_at: datetime, run_date: date) -> LicenseReviewReport:
        """The empty report of a run on a day the region does not work."""
        return cls(region=region, run_at=run_at, run_date=run_date, business_day=False)


def local_date(calendar: BusinessCalendar, at: datetime) -> date:
    """The region's wall-clock date at instant `at` (a review "day" is local)."""
    return calendar.to_local(at).date()


def business_days_open(calendar: BusinessCalendar, opened_at: datetime, now: datetime) -> int:
    """Business days of the region after the opening day, up to and including
    today: a ticket opened on Monday has been open 1 business day on Tuesday
    and 0 on Monday itself. Weekends, holidays and closures do not count."""
    opened, today = local_date(calendar, opened_at), local_date(calendar, now)
    if today <= opened:
        return 0
    return sum(1 for _ in calendar.business_days(opened + timedelta(days=1), today))


def open_over(days_open: int | None, threshold: int) -> bool:
    """Open for more than `threshold` business days (unknown counts as not)."""
    return days_open is not None and days_open > threshold


def review_window_start(
    calendar: BusinessCalendar, now: datetime, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> date:
    """The first CloseDate the review looks at: `lookback_days` calendar days
    before the region's local today."""
    return local_date(calendar, now) - timedelta(days=lookback_days)


# ---- what the workflow and its activities exchange ---------------------------


class BusinessDayRequest(BaseModel):
    region: Region
    at: datetime


class BusinessDayAnswer(BaseModel):
    """Whether the region works on its local date at `at`: computed once by a
    local activity (holiday data changes between releases) and recorded in
    the workflow's history, never recomputed on replay."""

    region: Region
    local_date: date
    business_day: bool


def business_day_answer(
    calendar: BusinessCalendar, region: Region, at: datetime
) -> BusinessDayAnswer:
    """The answer the local activity records."""
    today = local_date(calendar, at)
    return BusinessDayAnswer(
        region=region, local_date=today, business_day=calendar.is_business_day(today)
    )
