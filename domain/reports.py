"""The manager's view: the handbook's Key Reports as series and tables.

Why a module beside `domain.kpi`: the KPIs there are single figures per
period, while a manager looks at how they move (per week, per month), who
they rest on (per specialist, per rep) and what to chase (breaches, Billing
rejections, long-open license tickets, urgent escalations, what is due before
the region closes today). Everything here is a pure function over the
reporting store's rows (`ReviewRound`) and the few facts the store keeps in
its transitions (`RoundFacts`: who submitted, urgent or not, when the round
was submitted, the first Order Management action, license tickets), so each
figure can be checked by hand on a small data set.

Conventions (beside those of `domain.kpi`):

* A week starts on Monday and a month on the 1st, of the round's clock-start
  date in its home region (the rule that puts a round in a period).
* First response is the business time, in the reviewing region's calendar,
  from the round's submission to the first Order Management action on it
  recorded in the history. The workflow records no claim step, so today that
  is the decision itself; a refused attempt does not count.
* An urgent submission is "handed to another region" when its round was
  assigned to a region other than its home region.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field

from domain.calendar import BusinessCalendar, CalendarPolicy, calendar_for
from domain.kpi import (
    APPROVED,
    DEFAULT_TARGETS,
    REJECTED,
    KpiReport,
    KpiTargets,
    Period,
    PeriodError,
    ReviewRound,
    date_period,
    median,
    percentile,
    quarter_period,
)
from domain.models import Deployment, Region

__all__ = [
    "Breach",
    "BillingRejection",
    "EscalationRow",
    "FirstResponseRow",
    "LicenseTicketRow",
    "ManagerReport",
    "MonthAccuracy",
    "ReportThresholds",
    "RoundFacts",
    "WeekSla",
    "WorkloadReport",
    "billing_rejections",
    "breaches",
    "closed_won_by_member",
    "closed_won_by_region",
    "escalations",
    "first_responses",
    "license_tickets",
    "manager_report",
    "monthly_accuracy",
    "parse_period",
    "quarter_of",
    "rejections_by_region",
    "weekly_sla",
    "workload",
]


@dataclass(frozen=True)
class RoundFacts:
    """What the rounds table does not hold about a round, read from the
    store's transitions: its submission, its rep, urgency, the first Order
    Management action, and the license ticket of the deal."""

    opportunity_id: str
    round: int
    submitted_at: datetime | None = None
    owner: str | None = None
    urgent: bool = False
    first_om_action_at: datetime | None = None
    first_om_actor: str | None = None
    ticket_opened_at: datetime | None = None
    ticket_solved_at: datetime | None = None
    ticket_cause: str | None = None


class ReportThresholds(BaseModel):
    """The policy settings the reports flag by (`Policy.reports`)."""

    license_ticket_open_days: int = 3
    urgent_per_rep_quarter: int = 5


FactsByRound = dict[tuple[str, int], RoundFacts]


def _local_day(r: ReviewRound) -> date | None:
    return r.local_clock_start


# ---- SLA ------------------------------------------------------------------------------


class WeekSla(BaseModel):
    week: date = Field(description="Monday of the week (clock start, home region)")
    decided: int
    within: int
    share: float | None
    target: float


def weekly_sla(rounds: Sequence[ReviewRound], target: float = 0.90) -> list[WeekSla]:
    """Share of decided rounds within the SLA, per week of clock start."""
    decided: Counter[date] = Counter()
    within: Counter[date] = Counter()
    for r in rounds:
        verdict, day = r.within_sla, _local_day(r)
        if verdict is None or day is None:
            continue
        week = day - timedelta(days=day.weekday())
        decided[week] += 1
        within[week] += verdict
    return [
        WeekSla(
            week=w,
            decided=decided[w],
            within=within[w],
            share=within[w] / decided[w],
            target=target,
        )
        for w in sorted(decided)
    ]


def _by_clock_start(r: ReviewRound) -> tuple[bool, float]:
    return (r.clock_start is None, r.clock_start.timestamp() if r.clock_start else 0.0)


class Breach(BaseModel):
    opportunity_id: str
    round: int
    region: str
    sla_deadline: datetime | None
    decided_at: datetime | None
    outcome: str | None
    business_hours: float | None


def breaches(rounds: Sequence[ReviewRound]) -> list[Breach]:
    """Rounds decided after their deadline, or breached while pending."""
    found = [
        r
        for r in rounds
        if (r.decided and r.within_sla is False) or (r.outcome is None and r.breached)
    ]
    return [
        Breach(
            opportunity_id=r.opportunity_id,
            round=r.round,
            region=r.home_region.value,
            sla_deadline=r.sla_deadline,
            decided_at=r.decided_at,
            outcome=r.outcome,
            business_hours=r.business_hours,
        )
        for r in sorted(found, key=_by_clock_start)
    ]


# ---- accuracy ---------------------------------------------------------------------------


class MonthAccuracy(BaseModel):
    month: str = Field(description="YYYY-MM of clock start, home region")
    approvals: int
    billing_rejections: int
    accuracy: float | None
    target: float
    met: bool | None


def monthly_accuracy(rounds: Sequence[ReviewRound], target: float = 0.95) -> list[MonthAccuracy]:
    """1 - Billing rejections / OM approvals, per month of clock start."""
    approvals: Counter[tuple[int, int]] = Counter()
    rejected: Counter[tuple[int, int]] = Counter()
    for r in rounds:
        day = _local_day(r)
        if r.outcome != APPROVED or day is None:
            continue
        month = (day.year, day.month)
        approvals[month] += 1
        rejected[month] += r.finance_outcome == REJECTED
    rows = []
    for month in sorted(approvals):
        value = (approvals[month] - rejected[month]) / approvals[month]
        rows.append(
            MonthAccuracy(
                month=f"{month[0]:04d}-{month[1]:02d}",
                approvals=approvals[month],
                billing_rejections=rejected[month],
                accuracy=value,
                target=target,
                met=value >= target,
            )
        )
    return rows


class BillingRejection(BaseModel):
    opportunity_id: str
    round: int
    region: str
    reasons: list[str]
    om_approver: str | None
    billing_decider: str | None
    rejected_at: datetime | None


def billing_rejections(rounds: Sequence[ReviewRound]) -> list[BillingRejection]:
    """Each round Order Management approved and Billing rejected, with why and who."""
    return [
        BillingRejection(
            opportunity_id=r.opportunity_id,
            round=r.round,
            region=r.home_region.value,
            reasons=[c.strip().upper() for c in r.finance_reasons] or ["UNSPECIFIED"],
            om_approver=r.decided_by,
            billing_decider=r.finance_decided_by,
            rejected_at=r.finance_decided_at,
        )
        for r in rounds
        if r.outcome == APPROVED and r.finance_outcome == REJECTED
    ]


# ---- rejections and Closed Won ------------------------------------------------------------


class RegionCount(BaseModel):
    region: str
    code: str
    count: int


def rejections_by_region(rounds: Sequence[ReviewRound]) -> list[RegionCount]:
    """Order Management rejections per (home region, reason code); a rejection
    counts once per code it names, UNSPECIFIED when it names none."""
    counts: Counter[tuple[str, str]] = Counter()
    for r in rounds:
        if r.outcome != REJECTED:
            continue
        codes = dict.fromkeys(c.strip().upper() for c in r.reasons if c.strip()) or {
            "UNSPECIFIED": None
        }
        for code in codes:
            counts[(r.home_region.value, code)] += 1
    return [
        RegionCount(region=region, code=code, count=n)
        for (region, code), n in sorted(counts.items(), key=lambda i: (i[0][0], -i[1], i[0][1]))
    ]


def closed_won_by_region(rounds: Sequence[ReviewRound]) -> dict[str, int]:
    return dict(sorted(Counter(r.home_region.value for r in rounds if r.closed_won).items()))


def closed_won_by_member(rounds: Sequence[ReviewRound]) -> dict[str, int]:
    """Closed Won per Order Management approver, most first."""
    counts = Counter(r.decided_by or "unknown" for r in rounds if r.closed_won)
    return dict(sorted(counts.items(), key=lambda i: (-i[1], i[0])))


# ---- first response ---------------------------------------------------------------------


class FirstResponseRow(BaseModel):
    group: str = Field(description="A region, or a specialist's email")
    rounds: int
    average_hours: float | None


def _first_response_hours(
    r: ReviewRound, facts: RoundFacts | None, calendars: dict[Region, BusinessCalendar]
) -> tuple[float, str] | None:
    if facts is None or facts.first_om_action_at is None:
        return None
    start = facts.submitted_at or r.clock_start
    if start is None:
        return None
    calendar = calendars[r.assigned_region or r.home_region]
    seconds = calendar.business_time_between(start, facts.first_om_action_at).total_seconds()
    return max(0.0, seconds) / 3600, facts.first_om_actor or "unknown"


def first_responses(
    rounds: Sequence[ReviewRound], facts: FactsByRound, policy: CalendarPolicy | None = None
) -> tuple[list[FirstResponseRow], list[FirstResponseRow]]:
    """Average business hours from submission to the first Order Management
    action, per home region and per specialist who acted first."""
    by_region: dict[str, list[float]] = defaultdict(list)
    by_person: dict[str, list[float]] = defaultdict(list)
    calendars = {region: calendar_for(region, policy) for region in Region}
    for r in rounds:
        found = _first_response_hours(r, facts.get((r.opportunity_id, r.round)), calendars)
        if found is None:
            continue
        hours, who = found
        by_region[r.home_region.value].append(hours)
        by_person[who].append(hours)

    def rows(groups: dict[str, list[float]]) -> list[FirstResponseRow]:
        return [
            FirstResponseRow(group=g, rounds=len(v), average_hours=statistics.fmean(v))
            for g, v in sorted(groups.items())
        ]

    return rows(by_region), rows(by_person)


# ---- license delivery ----------------------------------------------------------------------


class LicenseTicketRow(BaseModel):
    opportunity_id: str
    region: str
    opened_at: datetime
    days_open: float
    solved: bool
    cause: str


class LicenseDelivery(BaseModel):
    automatic: int
    ticket: int
    awaiting: int
    days_to_delivery: list[float] = Field(description="Closed Won to delivery, calendar days")
    median_days: float | None
    threshold_days: int
    long_open: list[LicenseTicketRow]
    long_open_by_cause: dict[str, int]


def license_tickets(
    rounds: Sequence[ReviewRound], facts: FactsByRound, now: datetime, threshold_days: int
) -> LicenseDelivery:
    """Automation versus ticket for self-managed Closed Won deals, calendar
    days to delivery, and the tickets open (or that stayed open) longer than
    `threshold_days`, by cause ("not recorded" when none is known)."""
    won = [r for r in rounds if r.closed_won and r.deployment == Deployment.SELF_MANAGED]
    days = sorted(
        max(0.0, (r.license_delivered_at - r.finance_decided_at).total_seconds() / 86400)
        for r in won
        if r.license_delivered_at is not None and r.finance_decided_at is not None
    )
    long_open = []
    for r in won:
        f = facts.get((r.opportunity_id, r.round))
        if f is None or f.ticket_opened_at is None:
            continue
        end = f.ticket_solved_at or r.license_delivered_at or now
        open_days = (end - f.ticket_opened_at).total_seconds() / 86400
        if open_days > threshold_days:
            long_open.append(
                LicenseTicketRow(
                    opportunity_id=r.opportunity_id,
                    region=r.home_region.value,
                    opened_at=f.ticket_opened_at,
                    days_open=open_days,
                    solved=f.ticket_solved_at is not None,
                    cause=f.ticket_cause or "not recorded",
                )
            )
    automatic = sum(r.delivered_automatically is True for r in won)
    ticket = sum(r.delivered_automatically is False for r in won)
    return LicenseDelivery(
        automatic=automatic,
        ticket=ticket,
        awaiting=len(won) - automatic - ticket,
        days_to_delivery=days,
        median_days=median(days),
        threshold_days=threshold_days,
        long_open=sorted(long_open, key=lambda t: -t.days_open),
        long_open_by_cause=dict(sorted(Counter(t.cause for t in long_open).items())),
    )


# ---- escalations -----------------------------------------------------------------------------


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


class EscalationRow(BaseModel):
    rep: str
    quarter: str
    urgent: int
    handed_off: int
    handed_off_share: float
    flagged: bool = Field(description="More urgent submissions than the policy threshold")


def escalations(
    rounds: Sequence[ReviewRound], facts: FactsByRound, threshold: int
) -> list[EscalationRow]:
    """Urgent submissions (first rounds) per rep and calendar quarter, the share
    handed to another region, and the reps over `threshold` flagged."""
    urgent: Counter[tuple[str, str]] = Counter()
    handed: Counter[tuple[str, str]] = Counter()
    for r in rounds:
        f = facts.get((r.opportunity_id, r.round))
        day = _local_day(r)
        if f is None or not f.urgent or day is None:
            continue
        key = (f.owner or "unknown", quarter_of(day))
        urgent[key] += 1
        handed[key] += r.assigned_region is not None and r.assigned_region != r.home_region
    return [
        EscalationRow(
            rep=rep,
            quarter=quarter,
            urgent=n,
            handed_off=handed[(rep, quarter)],
            handed_off_share=handed[(rep, quarter)] / n,
            flagged=n > threshold,
        )
        for (rep, quarter), n in sorted(urgent.items(), key=lambda i: (-i[1], i[0]))
    ]


# ---- workload now -----------------------------------------------------------------------------


class OpenReview(BaseModel):
    opportunity_id: str
    round: int
    region: str
    specialist: str
    sla_deadline: datetime | None


class WorkloadReport(BaseModel):
    at: datetime
    by_region: dict[str, int]
    by_specialist: dict[str, int] = Field(description="First OM actor on the round, or unclaimed")
    due_before_close: list[OpenReview] = Field(
        description="Open reviews due before their region closes today (or already overdue)"
    )
    region_closes: dict[str, datetime | None] = Field(
        description="When each region closes today; None when it is closed now"
    )


def workload(
    rounds: Iterable[ReviewRound],
    facts: FactsByRound,
    now: datetime,
    regions: Sequence[Region],
    policy: CalendarPolicy | None = None,
) -> WorkloadReport:
    """Open Order Management reviews now, per reviewing region and specialist,
    and those due before the region's close today (every overdue one too)."""
    closes: dict[str, datetime | None] = {}
    for region in regions:
        calendar = calendar_for(region, policy)
        closes[region.value] = calendar.next_close(now) if calendar.is_open(now) else None
    open_rounds = [r for r in rounds if r.outcome is None and r.home_region in regions]
    by_region: Counter[str] = Counter()
    by_person: Counter[str] = Counter()
    due = []
    for r in open_rounds:
        queue = (r.assigned_region or r.home_region).value
        f = facts.get((r.opportunity_id, r.round))
        who = (f.first_om_actor if f else None) or "unclaimed"
        by_region[queue] += 1
        by_person[who] += 1
        close = closes.get(queue)
        if r.sla_deadline is not None and (
            r.sla_deadline <= now or (close is not None and r.sla_deadline <= close)
        ):
            due.append(
                OpenReview(
                    opportunity_id=r.opportunity_id,
                    round=r.round,
                    region=queue,
                    specialist=who,
                    sla_deadline=r.sla_deadline,
                )
            )
    return WorkloadReport(
        at=now,
        by_region=dict(sorted(by_region.items())),
        by_specialist=dict(sorted(by_person.items(), key=lambda i: (-i[1], i[0]))),
        due_before_close=sorted(due, key=lambda o: o.sla_deadline or now),
        region_closes=closes,
    )


# ---- everything at once ------------------------------------------------------------------------


class ManagerReport(BaseModel):
    """The manager's reports for one period and region(s): `GET /reports/kpi`."""

    period: str
    start: date | None
    end: date | None
    regions: list[str]
    kpi: KpiReport
    weekly_sla: list[WeekSla]
    sla_median_hours: float | None
    sla_p90_hours: float | None
    breaches: list[Breach]
    monthly_accuracy: list[MonthAccuracy]
    billing_rejections: list[BillingRejection]
    rejections_by_region: list[RegionCount]
    closed_won_by_region: dict[str, int]
    closed_won_by_member: dict[str, int]
    first_response_by_region: list[FirstResponseRow]
    first_response_by_specialist: list[FirstResponseRow]
    license_delivery: LicenseDelivery
    escalations: list[EscalationRow]
    urgent_threshold: int
    workload: WorkloadReport


def manager_report(
    kpi: KpiReport,
    rounds: Sequence[ReviewRound],
    facts: FactsByRound,
    open_rounds: Sequence[ReviewRound],
    regions: Sequence[Region],
    now: datetime,
    thresholds: ReportThresholds | None = None,
    policy: CalendarPolicy | None = None,
    targets: KpiTargets = DEFAULT_TARGETS,
) -> ManagerReport:
    """Every report of the period's `rounds` (already chosen by period and
    region, as `kpi` was); `open_rounds` are the rounds pending now, of any period."""
    thresholds = thresholds or ReportThresholds()
    hours = [h for h in (r.business_hours for r in rounds) if h is not None]
    by_region, by_person = first_responses(rounds, facts, policy)
    return ManagerReport(
        period=kpi.period,
        start=kpi.start,
        end=kpi.end,
        regions=[r.value for r in regions],
        kpi=kpi,
        weekly_sla=weekly_sla(rounds, targets.sla_share),
        sla_median_hours=median(hours),
        sla_p90_hours=percentile(hours, 0.9),
        breaches=breaches(rounds),
        monthly_accuracy=monthly_accuracy(rounds, targets.approval_accuracy),
        billing_rejections=billing_rejections(rounds),
        rejections_by_region=rejections_by_region(rounds),
        closed_won_by_region=closed_won_by_region(rounds),
        closed_won_by_member=closed_won_by_member(rounds),
        first_response_by_region=by_region,
        first_response_by_specialist=by_person,
        license_delivery=license_tickets(rounds, facts, now, thresholds.license_ticket_open_days),
        escalations=escalations(rounds, facts, thresholds.urgent_per_rep_quarter),
        urgent_threshold=thresholds.urgent_per_rep_quarter,
        workload=workload(open_rounds, facts, now, regions, policy),
    )


def parse_period(text: str) -> Period:
    """A report period as people type it: a calendar quarter (`2026Q4`), a
    fiscal quarter (`FY2027Q4`, `FY27Q4`) or a date range
    (`2026-10-01..2026-12-31`). Raises PeriodError naming what it expected."""
    text = text.strip()
    for separator in ("..", "/"):
        if separator in text:
            first, _, last = text.partition(separator)
            try:
                start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
            except ValueError:
                raise PeriodError(
                    f"cannot read the date range {text!r}: write it as 2026-10-01..2026-12-31"
                ) from None
            return date_period(start, end)
    return quarter_period(text)
