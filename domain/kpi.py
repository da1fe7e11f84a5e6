"""The handbook's KPIs, computed from review rounds and CSAT survey responses.

Why pure functions over plain rows: the figures are what managers are judged
by, so their arithmetic must be checkable by hand. Everything here takes
`ReviewRound` and `CsatResponse` values (the reporting store's rows, or
fixtures built from `RoundRecord`s) and returns pydantic reports; no SQL,
no Temporal, no clock reads.

Conventions, each chosen once and stated in `KpiReport.notes`:

* A review round belongs to the period (and region) of its SLA clock start,
  as a date in its home region's time zone: a round submitted at 16:15 PST
  on 31 December is a Q4 round although it is already 1 January in UTC.
  Every round KPI follows this rule, including Closed Won and license
  delivery, which count the round that went to Billing and was approved.
* Quarters are calendar quarters (2026Q4 = October to December). GitLab's
  fiscal year ends on 31 January, so its quarters differ: FY2027 Q4 is
  November 2026 to January 2027 (`quarter_period("FY2027Q4")`, or
  `quarter_period("2027Q4", fiscal=True)`).
* Median is the usual one (mean of the two middle values for an even
  count); p90 is the nearest-rank percentile: the ceil(0.9 n)-th smallest
  value, so it is always a value that was observed (the 9th of 10 values,
  the largest of 5).
* A round decided before the review-plan patch has no recorded business
  time: it counts for the SLA share (its decision is compared with its
  recorded deadline) but not for median, p90 or first response.
* An empty period gives n/a figures (None), never an error; CSAT without
  responses says "no responses" instead of dividing by zero.
"""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import calendar_for
from domain.errors import OmError
from domain.models import Deployment, Region

if TYPE_CHECKING:
    from domain.messages import RoundRecord

__all__ = [
    "APPROVED",
    "RECALLED",
    "REJECTED",
    "ALL_TIME",
    "DEFAULT_TARGETS",
    "POSITIVE_ANSWERS",
    "CsatAnswer",
    "CsatImportError",
    "CsatResponse",
    "Figure",
    "KpiReport",
    "KpiTargets",
    "PeriodError",
    "Period",
    "ReviewRound",
    "accuracy_report",
    "closed_won_report",
    "csat_in",
    "csat_report",
    "date_period",
    "first_response_report",
    "kpi_report",
    "license_report",
    "median",
    "parse_csat_csv",
    "percentile",
    "quarter_period",
    "rejection_report",
    "rounds_in",
    "sla_report",
]

APPROVED = "approved"
REJECTED = "rejected"
RECALLED = "recalled"
DECIDED = frozenset({APPROVED, REJECTED})
AUTOMATIC_DECIDER = "pre-check"  # the workflow's automatic rejection on hard findings


# ---- targets -------------------------------------------------------------------------


class KpiTargets(BaseModel):
    """The KPI targets the Order Management handbook publishes.

    Policy is data: a settings object can carry another set. There is no
    published target for the share of rounds within the SLA; 90% is the p90
    statement ("90% of rounds decided within 12 business hours") read as a
    share. First response is held to the SLA itself: the handbook's 6-hour
    first response is for Deal Desk cases, not opportunity approvals.
    """

    model_config = ConfigDict(frozen=True)

    sla_business_hours: float = Field(default=12.0, gt=0, description="Approval SLA")
    sla_share: float = Field(default=0.90, ge=0, le=1, description="Rounds within the SLA")
    approval_accuracy: float = Field(default=0.95, ge=0, le=1)
    csat: float = Field(default=0.92, ge=0, le=1, description="Regional support satisfaction")


DEFAULT_TARGETS = KpiTargets()


# ---- periods -------------------------------------------------------------------------


class PeriodError(OmError, ValueError):
    """A period that cannot be read (`--quarter 2026Q5`, --from after --to)."""


@dataclass(frozen=True)
class Period:
    """Inclusive dates; None leaves that side open. `label` is what reports show."""

    start: date | None
    end: date | None
    label: str

    def contains(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def covers(self, other: Period) -> bool:
        """True when `other` lies wholly inside this period (a CSAT quarter in a report)."""
        if self.start is not None and (other.start is None or other.start < self.start):
            return False
        return self.end is None or (other.end is not None and other.end <= self.end)


ALL_TIME = Period(None, None, "all recorded")

_QUARTER = re.compile(
    r"^\s*(?:(?P<fy1>FY)?\s*(?P<y1>\d{2}|\d{4})\s*[-/ ]?\s*Q(?P<q1>[1-4])"
    r"|Q(?P<q2>[1-4])\s*[-/ ]?\s*(?P<fy2>FY)?\s*(?P<y2>\d{2}|\d{4}))\s*$",
    re.IGNORECASE,
)


def quarter_period(text: str, fiscal: bool = False) -> Period:
    """The period of a quarter: `2026Q4`, `2026-Q4`, `Q4 2026` (calendar), or
    `FY2027Q4`, `FY27-Q4`, `Q4 FY27` (GitLab fiscal, the year ending 31 January).

    `fiscal=True` reads a bare `2027Q4` as fiscal too. Fiscal year N runs from
    1 February of N-1 to 31 January of N, so FY2027 Q4 = November 2026 to
    January 2027. Raises PeriodError for anything else.
    """
    found = _QUARTER.match(text)
    if not found:
        raise PeriodError(
            f"cannot read quarter {text!r}: write it as 2026Q4 (calendar) or FY2027Q4 (fiscal)"
        )
    year_text = found["y1"] or found["y2"]
    year = int(year_text) + (2000 if len(year_text) == 2 else 0)
    number = int(found["q1"] or found["q2"])
    if fiscal or found["fy1"] or found["fy2"]:
        first_month = 2 + 3 * (number - 1)  # Feb, May, Aug, Nov of the year before
        start = date(year - 1, first_month, 1)
        label = f"FY{year}Q{number}"
    else:
        start = date(year, 3 * (number - 1) + 1, 1)
        label = f"{year}Q{number}"
    after = start.month + 3  # the month after the quarter, 13 or 14 past December
    following = date(start.year + (after > 12), (after - 1) % 12 + 1, 1)
    return Period(start, following - timedelta(days=1), label)


def date_period(start: date | None, end: date | None) -> Period:
    """The period between two inclusive dates (either may be open)."""
    if start is not None and end is not None and end < start:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    if start is None and end is None:
        return ALL_TIME
    return Period(start, end, f"{start or '...'} to {end or '...'}")


# ---- review rounds -------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRound:
    """One Order Management review round, what Billing made of it, and, for the
    round that went to Closed Won, how the license was delivered.

    The names of the fields `RoundRecord` has too are the same, so a recorded
    round converts with `ReviewRound.from_record`. `outcome` is approved,
    rejected or recalled, None while the round is pending; `finance_outcome`
    approved (Closed Won), rejected (back to Order Management) or recalled
    (the rep took it back while Billing reviewed), None while Billing has it.
    """

    opportunity_id: str
    round: int
    home_region: Region
    clock_start: datetime | None = None
    sla_deadline: datetime | None = None
    outcome: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    reasons: tuple[str, ...] = ()
    business_seconds_to_decision: float | None = None
    sla_met: bool | None = None
    breached: bool = False
    assigned_region: Region | None = None
    taken_because: str | None = None
    finance_outcome: str | None = None
    finance_decided_at: datetime | None = None
    finance_decided_by: str | None = None
    finance_reasons: tuple[str, ...] = ()
    deployment: str | None = None
    license_delivered_at: datetime | None = None
    license_tickets: int = 0
    overrides: tuple[str, ...] = ()
    """Hard findings the OM approver overrode (approved anyway)."""

    @classmethod
    def from_record(cls, opportunity_id: str, record: RoundRecord, **more: object) -> ReviewRound:
        """A round from the workflow's own `RoundRecord`, plus what it does not
        hold (reasons, Billing's outcome, license delivery) as keyword arguments."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.model_dump().items() if k in names}
        if "overrides" in values:
            values["overrides"] = tuple(values["overrides"])
        return cls(opportunity_id=opportunity_id, **(values | more))

    @property
    def decided(self) -> bool:
        return self.outcome in DECIDED

    @property
    def within_sla(self) -> bool | None:
        """The recorded verdict, else the decision compared with the recorded
        deadline (rounds before the review-plan patch); None when undecided."""
        if not self.decided:
            return None
        if self.sla_met is not None:
            return self.sla_met
        if self.decided_at is None or self.sla_deadline is None:
            return None
        return self.decided_at <= self.sla_deadline

    @property
    def business_hours(self) -> float | None:
        seconds = self.business_seconds_to_decision
        return None if seconds is None or not self.decided else seconds / 3600

    @property
    def closed_won(self) -> bool:
        return self.finance_outcome == APPROVED

    @property
    def delivered_automatically(self) -> bool | None:
        """For a Closed Won self-managed deal: True when the license arrived with
        no Support ticket, False once a ticket was opened, None while unknown."""
        if not self.closed_won or self.deployment != Deployment.SELF_MANAGED:
            return None
        if self.license_tickets:
            return False
        return True if self.license_delivered_at is not None else None

    @cached_property
    def local_clock_start(self) -> date | None:
        """The clock start's date in the home region, which decides the period
        (cached: every report of a period asks each round for it)."""
        if self.clock_start is None:
            return None
        return self.clock_start.astimezone(_home_zone(self.home_region)).date()


@cache
def _home_zone(region: Region) -> tzinfo:
    """The home region's time zone (the default calendar's, as periods use)."""
    return calendar_for(region).tz


def rounds_in(
    rounds: Iterable[ReviewRound], period: Period = ALL_TIME, region: Region | None = None
) -> list[ReviewRound]:
    """The rounds of `period` (by clock start) and of `region` (home region).
    A round whose clock is not recorded yet belongs only to the open period."""
    chosen = []
    for r in rounds:
        if region is not None and r.home_region != region:
            continue
        day = r.local_clock_start
        if day is None and (period.start is not None or period.end is not None):
            continue
        if day is not None and not period.contains(day):
            continue
        chosen.append(r)
    return chosen


# ---- statistics ----------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The median (mean of the two middle values for an even count); None when empty."""
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile: the ceil(share * n)-th smallest value; None when
    empty. Chosen for small sets because it answers with an observed value."""
    if not values:
        return None
    ordered = sorted(values)
    # The tolerance keeps a product that should be whole (0.9 * 10) whole.
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return ordered[rank - 1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---- report models -------------------------------------------------------------------


class Figure(BaseModel):
    """One KPI figure, its target and whether it is met.

    `value` and `met` are None (n/a) when there is nothing to measure; `target`
    is None when no target is published, and then `met` is None too.
    """

    value: float | None
    unit: str = Field(description="share (0..1), hours (business hours) or days")
    target: float | None = None
    higher_is_better: bool = True
    met: bool | None = None
    basis: int = Field(default=0, description="How many rounds, deals or responses it rests on")
    note: str = ""


def _figure(
    value: float | None,
    unit: str,
    target: float | None,
    basis: int,
    higher_is_better: bool = True,
    note: str = "",
) -> Figure:
    met = None
    if value is not None and target is not None:
        met = value >= target if higher_is_better else value <= target
    return Figure(
        value=value,
        unit=unit,
        target=target,
        higher_is_better=higher_is_better,
        met=met,
        basis=basis,
        note=note,
    )


class SlaReport(BaseModel):
    decided: int = Field(description="Rounds approved or rejected by Order Management")
    within: int = Field(description="Of those, decided by their SLA deadline")
    pending: int = Field(description="Rounds still waiting for a decision")
    pending_breached: int = Field(description="Pending rounds already past their deadline")
    unmeasured: int = Field(description="Decided rounds without recorded business time")
    share_within: Figure
    median_hours: Figure
    p90_hours: Figure


class FirstResponseReport(BaseModel):
    average_hours: Figure


class AccuracyReport(BaseModel):
    om_approvals: int = Field(description="Rounds Order Management approved (sent to Billing)")
    finance_rejections: int
    awaiting_billing: int
    accuracy: Figure


class ReasonCount(BaseModel):
    code: str
    count: int


class OverrideReport(BaseModel):
    approvals: int = Field(description="OM approvals that overrode hard pre-check findings")
    by_specialist: dict[str, int] = Field(description="Overridden approvals per OM approver")
    by_code: list[ReasonCount] = Field(description="An approval counts once per code it overrode")
    billing_rejected: int = Field(description="Of those, rounds Billing later rejected")
    awaiting_billing: int = Field(description="Of those, rounds Billing has not decided yet")


class RejectionReport(BaseModel):
    rejections: int = Field(description="Rounds Order Management rejected")
    automatic: int = Field(description="Of those, rejected by the automatic pre-check")
    by_reason: list[ReasonCount] = Field(description="A rejection counts once per code it names")
    top_by_region: dict[str, list[ReasonCount]]
    billing_rejections: int
    billing_by_reason: list[ReasonCount]


class ClosedWonReport(BaseModel):
    total: int
    by_region: dict[str, int]
    by_specialist: dict[str, int] = Field(description="The Order Management approver")


class LicenseReport(BaseModel):
    closed_won_self_managed: int
    delivered_automatically: int
    with_ticket: int
    awaiting: int = Field(description="Neither delivered nor ticketed yet")
    tickets_opened: int
    automatic_share: Figure
    median_days_to_delivery: Figure


class CsatRegion(BaseModel):
    responses: int
    answers: dict[str, int]
    rating: Figure


class CsatReport(BaseModel):
    by_region: dict[str, CsatRegion]
    overall: CsatRegion


class KpiReport(BaseModel):
    """Every KPI for one period (and region): the `om kpi --json` document."""

    period: str
    start: date | None
    end: date | None
    region: str | None
    rounds: int = Field(description="Review rounds in the period")
    sla: SlaReport
    first_response: FirstResponseReport
    accuracy: AccuracyReport
    overrides: OverrideReport
    rejections: RejectionReport
    closed_won: ClosedWonReport
    license_delivery: LicenseReport
    csat: CsatReport
    notes: list[str] = Field(default_factory=list)


# ---- the KPIs --------------------------------------------------------------------------


def sla_report(rounds: Sequence[ReviewRound], targets: KpiTargets = DEFAULT_TARGETS) -> SlaReport:
    """Share of decided rounds within the SLA; median and p90 business hours."""
    decided = [r for r in rounds if r.decided]
    judged = [r.within_sla for r in decided if r.within_sla is not None]
    hours = [h for h in (r.business_hours for r in decided) if h is not None]
    pending = [r for r in rounds if r.outcome is None]
    within = sum(judged)
    limit = targets.sla_business_hours
    return SlaReport(
        decided=len(decided),
        within=within,
        pending=len(pending),
        pending_breached=sum(r.breached for r in pending),
        unmeasured=len(decided) - len(hours),
        share_within=_figure(_ratio(within, len(judged)), "share", targets.sla_share, len(judged)),
        median_hours=_figure(median(hours), "hours", limit, len(hours), higher_is_better=False),
        p90_hours=_figure(
            percentile(hours, 0.9), "hours", limit, len(hours), higher_is_better=False
        ),
    )


def first_response_report(
    rounds: Sequence[ReviewRound], targets: KpiTargets = DEFAULT_TARGETS
) -> FirstResponseReport:
    """Average business hours from the first round's clock start to its decision."""
    hours = [h for r in rounds if r.round == 1 and (h := r.business_hours) is not None]
    average = statistics.fmean(hours) if hours else None
    return FirstResponseReport(
        average_hours=_figure(
            average, "hours", targets.sla_business_hours, len(hours), higher_is_better=False
        )
    )


def accuracy_report(
    rounds: Sequence[ReviewRound], targets: KpiTargets = DEFAULT_TARGETS
) -> AccuracyReport:
    """1 - (Billing rejections / Order Management approvals sent to Billing).

    Approvals Billing has not reviewed yet stay in the denominator (they were
    sent); `awaiting_billing` says how many, as the figure may still drop.
    """
    approvals = [r for r in rounds if r.outcome == APPROVED]
    rejected = sum(r.finance_outcome == REJECTED for r in approvals)
    accuracy = _ratio(len(approvals) - rejected, len(approvals))
    return AccuracyReport(
        om_approvals=len(approvals),
        finance_rejections=rejected,
        awaiting_billing=sum(r.finance_outcome is None for r in approvals),
        accuracy=_figure(accuracy, "share", targets.approval_accuracy, len(approvals)),
    )


def override_report(rounds: Sequence[ReviewRound]) -> OverrideReport:
    """Approvals that overrode hard findings: who overrode, what, and how
    often Billing then rejected the round (an override Billing rejects is an
    accuracy miss the pre-check had warned of)."""
    overridden = [r for r in rounds if r.outcome == APPROVED and r.overrides]
    by_code = Counter(code for r in overridden for code in dict.fromkeys(r.overrides))
    return OverrideReport(
        approvals=len(overridden),
        by_specialist=dict(sorted(Counter(r.decided_by or "unknown" for r in overridden).items())),
        by_code=[ReasonCount(code=c, count=n) for c, n in sorted(by_code.items())],
        billing_rejected=sum(r.finance_outcome == REJECTED for r in overridden),
        awaiting_billing=sum(r.finance_outcome is None for r in overridden),
    )


def _codes(reasons: Iterable[str]) -> list[str]:
    """A rejection's codes, each once; UNSPECIFIED when it names none. Reasons
    are recorded as typed (`po_missing`) and the workflow accepted them because
    they parse case-insensitively, so they are counted the same way."""
    codes = dict.fromkeys(c.strip().upper() for c in reasons if c.strip())
    return list(codes) or ["UNSPECIFIED"]


def _counts(counter: Counter[str], top: int | None = None) -> list[ReasonCount]:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return [ReasonCount(code=c, count=n) for c, n in ordered[:top]]


def rejection_report(rounds: Sequence[ReviewRound], top: int = 3) -> RejectionReport:
    """Rejections by reason code, and each region's `top` reasons (the handbook's
    "Opportunity Rejections"); Billing's rejections are counted beside them."""
    rejected = [r for r in rounds if r.outcome == REJECTED]
    by_reason: Counter[str] = Counter()
    by_region: dict[str, Counter[str]] = {}
    for r in rejected:
        codes = _codes(r.reasons)
        by_reason.update(codes)
        by_region.setdefault(r.home_region.value, Counter()).update(codes)
    billing = [r for r in rounds if r.finance_outcome == REJECTED]
    billing_by_reason: Counter[str] = Counter()
    for r in billing:
        billing_by_reason.update(_codes(r.finance_reasons))
    return RejectionReport(
        rejections=len(rejected),
        automatic=sum(r.decided_by == AUTOMATIC_DECIDER for r in rejected),
        by_reason=_counts(by_reason),
        top_by_region={region: _counts(c, top) for region, c in sorted(by_region.items())},
        billing_rejections=len(billing),
        billing_by_reason=_counts(billing_by_reason),
    )


def closed_won_report(rounds: Sequence[ReviewRound]) -> ClosedWonReport:
    """Closed Won deals per home region and per Order Management approver."""
    won = [r for r in rounds if r.closed_won]
    by_specialist = Counter(r.decided_by or "unknown" for r in won)
    return ClosedWonReport(
        total=len(won),
        by_region=dict(sorted(Counter(r.home_region.value for r in won).items())),
        by_specialist=dict(sorted(by_specialist.items(), key=lambda item: (-item[1], item[0]))),
    )


def license_report(rounds: Sequence[ReviewRound]) -> LicenseReport:
    """Self-managed Closed Won deals: share licensed by automation (no ticket),
    tickets opened, median calendar days from Closed Won to delivery."""
    won = [r for r in rounds if r.closed_won and r.deployment == Deployment.SELF_MANAGED]
    automatic = [r for r in won if r.delivered_automatically is True]
    ticketed = [r for r in won if r.delivered_automatically is False]
    days = [
        max(0.0, (r.license_delivered_at - r.finance_decided_at).total_seconds() / 86400)
        for r in won
        if r.license_delivered_at is not None and r.finance_decided_at is not None
    ]
    known = len(automatic) + len(ticketed)
    return LicenseReport(
        closed_won_self_managed=len(won),
        delivered_automatically=len(automatic),
        with_ticket=len(ticketed),
        awaiting=len(won) - known,
        tickets_opened=sum(r.license_tickets for r in won),
        automatic_share=_figure(
            _ratio(len(automatic), known), "share", None, known, note="no published target"
        ),
        median_days_to_delivery=_figure(
            median(days),
            "days",
            None,
            len(days),
            higher_is_better=False,
            note="no published target",
        ),
    )


# ---- CSAT ------------------------------------------------------------------------------


class CsatAnswer(StrEnum):
    """The survey's answers to "How would you describe the level of support...?"."""

    EXCELLENT = "Excellent"
    GOOD = "Good"
    NEUTRAL = "Neutral"
    POOR = "Poor"
    VERY_POOR = "Very Poor"


POSITIVE_ANSWERS = frozenset({CsatAnswer.EXCELLENT, CsatAnswer.GOOD, CsatAnswer.NEUTRAL})
CSAT_COLUMNS = ("region", "quarter", "response")


@dataclass(frozen=True)
class CsatResponse:
    """One survey response: the region it rates, the quarter (canonical label,
    `2026Q4` or `FY2027Q4`) and the answer."""

    region: Region
    quarter: str
    answer: CsatAnswer
    period: Period = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "period", quarter_period(self.quarter))


class CsatImportError(OmError, ValueError):
    """A CSAT file that cannot be imported; names the line and column at fault."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None) -> None:
        where = ", ".join(
            part
            for part in (
                f"line {line}" if line is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.line, self.column = line, column


def _answer(text: str) -> CsatAnswer:
    wanted = " ".join(text.split()).casefold()
    for answer in CsatAnswer:
        if answer.value.casefold() == wanted:
            return answer
    raise ValueError(
        f"{text!r} is not a survey answer; expected one of "
        + ", ".join(a.value for a in CsatAnswer)
    )


def _region(text: str) -> Region:
    try:
        return Region(text.strip().upper())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a region; expected one of " + ", ".join(r.value for r in Region)
        ) from None


def parse_csat_csv(text: str) -> list[CsatResponse]:
    """The responses in a CSAT CSV (columns region, quarter, response; others
    are ignored; header names and answers are case-insensitive; blank lines
    are skipped). All or nothing: the first bad row raises CsatImportError
    naming its line and column, so a half-imported survey never skews a rating.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        raise CsatImportError("the file is empty; expected a header: " + ",".join(CSAT_COLUMNS))
    names = [h.strip().lower() for h in header]
    missing = [c for c in CSAT_COLUMNS if c not in names]
    if missing:
        raise CsatImportError(
            f"no {', '.join(missing)} column in the header {header!r}; "
            "expected columns " + ", ".join(CSAT_COLUMNS),
            line=1,
            column=missing[0],
        )
    index = {c: names.index(c) for c in CSAT_COLUMNS}
    readers: dict[str, Callable[[str], Any]] = {
        "region": _region,
        "quarter": lambda t: quarter_period(t).label,
        "response": _answer,
    }
    responses = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        values = {}
        for column, read in readers.items():
            position = index[column]
            cell = row[position].strip() if position < len(row) else ""
            if not cell:
                raise CsatImportError("empty value", reader.line_num, column)
            try:
                values[column] = read(cell)
            except ValueError as error:
                raise CsatImportError(str(error), reader.line_num, column) from None
        responses.append(CsatResponse(values["region"], values["quarter"], values["response"]))
    return responses


def csat_in(
    responses: Iterable[CsatResponse], period: Period = ALL_TIME, region: Region | None = None
) -> list[CsatResponse]:
    """The responses about quarters lying wholly inside `period` (so a fiscal
    quarter is not half-counted in a calendar one), of `region` when given."""
    return [
        r for r in responses if (region is None or r.region == region) and period.covers(r.period)
    ]


def _csat_region(responses: Sequence[CsatResponse], targets: KpiTargets) -> CsatRegion:
    answers = Counter(r.answer for r in responses)
    positive = sum(answers[a] for a in POSITIVE_ANSWERS)
    return CsatRegion(
        responses=len(responses),
        answers={a.value: answers[a] for a in CsatAnswer},
        rating=_figure(
            _ratio(positive, len(responses)),
            "share",
            targets.csat,
            len(responses),
            note="" if responses else "no responses",
        ),
    )


def csat_report(
    responses: Sequence[CsatResponse],
    targets: KpiTargets = DEFAULT_TARGETS,
    regions: Sequence[Region] = tuple(Region),
) -> CsatReport:
    """Regional support satisfaction: (Excellent + Good + Neutral) / all, per region."""
    return CsatReport(
        by_region={
            region.value: _csat_region([r for r in responses if r.region == region], targets)
            for region in regions
        },
        overall=_csat_region(list(responses), targets),
    )


# ---- everything at once ------------------------------------------------------------------


def kpi_report(
    rounds: Iterable[ReviewRound],
    responses: Iterable[CsatResponse] = (),
    period: Period = ALL_TIME,
    region: Region | None = None,
    targets: KpiTargets = DEFAULT_TARGETS,
) -> KpiReport:
    """Every KPI of `period` (and `region`), from all the rounds and responses given."""
    chosen = rounds_in(rounds, period, region)
    return KpiReport(
        period=period.label,
        start=period.start,
        end=period.end,
        region=region.value if region else None,
        rounds=len(chosen),
        sla=sla_report(chosen, targets),
        first_response=first_response_report(chosen, targets),
        accuracy=accuracy_report(chosen, targets),
        overrides=override_report(chosen),
        rejections=rejection_report(chosen),
        closed_won=closed_won_report(chosen),
        license_delivery=license_report(chosen),
        csat=csat_report(
            csat_in(responses, period, region), targets, [region] if region else tuple(Region)
        ),
        notes=[
            "A review round counts in the period of its SLA clock start (date in its home "
            "region); Closed Won and license delivery count the round Billing approved.",
            "Quarters are calendar quarters unless fiscal (GitLab FY ends 31 January: "
            "FY Q4 = November to January).",
            "Median: mean of the two middle values for an even count; p90: nearest rank "
            "(the ceil(0.9 n)-th smallest business time).",
            "Rounds decided before the review-plan patch have no recorded business time: "
            "they count for the SLA share only.",
            "CSAT counts the responses about quarters lying wholly inside the period.",
        ],
    )
