"""Planning a review round: who reviews it, its SLA clock and checkpoints.

A round's plan is computed once, when the round opens, and recorded in the
workflow's history (a local activity), because it depends on holiday data
that changes between releases. The workflow then only compares instants.

The handbook's rules encoded here:
- the clock starts at submission, or at the next opening when submitted at
  or after the 16:30 cutoff or outside hours (`BusinessCalendar.clock_start`);
- 12 business hours later is the deadline; queue channel warnings go out at
  50% and 75% of it, and at the deadline the round is breached and escalated;
- an urgent opportunity submitted while its home region is closed is offered
  to the region open now, or to the one that opens next (escalation path);
- in the last 2 business days of a month or quarter any region's specialist
  may take any queue (cover).
"""

from __future__ import annotations

import calendar as _stdcalendar
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel

from domain.calendar import BusinessCalendar, CalendarPolicy, calendar_for
from domain.models import Region

CheckpointKind = Literal["warn_50", "warn_75", "breach"]
_CHECKPOINT_SHARES: tuple[tuple[CheckpointKind, float], ...] = (
    ("warn_50", 0.5),
    ("warn_75", 0.75),
    ("breach", 1.0),
)
CHECKPOINT_WORDS: dict[CheckpointKind, str] = {"warn_50": "50%", "warn_75": "75%", "breach": "100%"}
"""How far into the SLA each checkpoint is, as people read it in the history."""
COVER_BUSINESS_DAYS = 2


class SlaCheckpoint(BaseModel):
    at: datetime
    kind: CheckpointKind


class CoverWindow(BaseModel):
    """An interval in which specialists of every region may take the queue."""

    start: datetime
    end: datetime
    reason: str

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


class ReviewPlan(BaseModel):
    """Everything a round needs to keep its SLA promise, computed once."""

    home_region: Region
    assigned_region: Region
    handoff_reason: str | None = None
    clock_start: datetime
    sla_deadline: datetime
    checkpoints: list[SlaCheckpoint]
    cover_windows: list[CoverWindow]
    billing_review_due: datetime | None = None
    """Billing reviews only from this instant (quote start far in the future)."""

    def cover_reason(self, at: datetime) -> str | None:
        """Why any region may take the round at `at`, or None."""
        return next((w.reason for w in self.cover_windows if w.contains(at)), None)


def choose_review_region(
    home: Region, submitted_at: datetime, urgent: bool, policy: CalendarPolicy | None = None
) -> tuple[Region, str | None]:
    """The region that reviews a submission, and why when it is not `home`.

    Only urgent submissions made while the home region is closed move: to a
    region open now (the one open longest from now), else to the region that
    opens first (which may be home itself).
    """
    home_calendar = calendar_for(home, policy)
    if not urgent or home_calendar.is_open(submitted_at):
        return home, None
    others = [r for r in Region if r != home]
    open_now = [r for r in others if calendar_for(r, policy).is_open(submitted_at)]
    if open_now:
        chosen = max(open_now, key=lambda r: calendar_for(r, policy).next_close(submitted_at))
        return chosen, f"urgent; {home.value} closed, {chosen.value} open now"
    chosen = min(Region, key=lambda r: (calendar_for(r, policy).next_open(submitted_at), r != home))
    if chosen == home:
        return home, None
    return chosen, f"urgent; {home.value} closed, {chosen.value} opens first"


def cover_windows(
    calendar: BusinessCalendar,
    around: datetime,
    months: int = 2,
    n: int = COVER_BUSINESS_DAYS,
) -> list[CoverWindow]:
    """The end-of-month / end-of-quarter cover windows of the month of
    `around` and the following months, in the calendar's local time: from
    local midnight of the n-th last business day to the end of the month."""
    local = around.astimezone(calendar.tz).date()
    year, month = local.year, local.month
    windows = []
    for _ in range(months):
        last_day = date(year, month, _stdcalendar.monthrange(year, month)[1])
        d, remaining = last_day, n
        while d.day > 1:
            remaining -= calendar.is_business_day(d)
            if remaining == 0:
                break
            d -= timedelta(days=1)
        start = datetime.combine(d, time(0), tzinfo=calendar.tz)
        end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=calendar.tz)
        label = "end of quarter" if month % 3 == 0 else "end of month"
        windows.append(CoverWindow(start=start, end=end, reason=f"{label} cover"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return windows


def cover_rule(
    policy: CalendarPolicy | None, at: datetime, n: int = COVER_BUSINESS_DAYS
) -> Callable[[Region], str | None]:
    """Why any region may take reviews of a home region at `at` (its cover
    window, on the home region's calendar, as the round's plan has it), or
    None; never with `n` = 0 (cover turned off)."""
    reasons: dict[Region, str | None] = {}
    for home in Region:
        windows = cover_windows(calendar_for(home, policy), at, months=1, n=n) if n else []
        reasons[home] = next((w.reason for w in windows if w.contains(at)), None)
    return lambda home: reasons.get(Region(home))


def plan_review_round(
    home: Region,
    submitted_at: datetime,
    urgent: bool = False,
    policy: CalendarPolicy | None = None,
    cover_business_days: int = COVER_BUSINESS_DAYS,
) -> ReviewPlan:
    """The plan of a review round opened at `submitted_at`."""
    assigned, why = choose_review_region(home, submitted_at, urgent, policy)
    calendar = calendar_for(assigned, policy)
    start = calendar.clock_start(submitted_at)
    sla = calendar.sla
    checkpoints = [
        SlaCheckpoint(at=calendar.add_business_hours(start, sla * share), kind=kind)
        for kind, share in _CHECKPOINT_SHARES
    ]
    return ReviewPlan(
        home_region=home,
        assigned_region=assigned,
        handoff_reason=why,
        clock_start=start,
        sla_deadline=checkpoints[-1].at,
        checkpoints=checkpoints,
        cover_windows=cover_windows(calendar_for(home, policy), submitted_at, n=cover_business_days)
        if cover_business_days
        else [],
    )


def backdated_for_warning(
    home: Region,
    now: datetime,
    policy: CalendarPolicy | None = None,
    margin: timedelta = timedelta(minutes=2),
) -> datetime:
    """A submission instant whose round, opened at `now`, has its first SLA
    warning due already and its deadline still ahead (a non-urgent round).

    Why: a demo started outside business hours, or on a weekend, would
    otherwise wait hours or days for its first warning. Counting the first
    checkpoint's business time (plus `margin`) back from `now` in the home
    region's calendar gives an instant the clock starts at, unless it falls
    after the day's cutoff; then it moves earlier, `margin` of business time
    at a time, until the clock starts at the submission itself. The cutoff
    window (16:30 to closing) is short next to the 3 business hours between
    the 50% and 75% checkpoints, so the round stays short of its 75% warning
    and far from its deadline.
    """
    calendar = calendar_for(home, policy)
    first = calendar.sla * _CHECKPOINT_SHARES[0][1]
    submitted = calendar.add_business_hours(now, -(first + margin))
    for _ in range(int(timedelta(hours=24) / margin)):
        if calendar.clock_start(submitted) == submitted:
            return submitted
        submitted = calendar.add_business_hours(submitted, -margin)
    raise ValueError(f"no submission instant before {now} starts the {home.value} clock at once")
