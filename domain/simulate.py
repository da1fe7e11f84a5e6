"""The policy simulator: a period's recorded rounds under another policy.

Why: before changing hours, a time zone, the SLA length, the cutoff,
holidays or cover days, a manager wants to know what the change would have
done to SLA attainment. The honest answer replays the clock, not the people:
every round keeps its recorded submission and decision instants, and only
the SLA clock is recomputed with the domain's own calendar code (clock start
after the cutoff or outside hours, business time, the deadline, the urgent
handoff). Whether people would have decided sooner under another policy is
not something the records can tell, so the simulator does not guess.

Cover days change who may take a round at the end of a month or quarter,
not when its clock starts or ends: they are accepted and reported, and leave
the SLA figures as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import CalendarPolicy, calendar_for
from domain.kpi import ReviewRound, median
from domain.models import Region
from domain.sla import choose_review_region

SAME_DECISIONS = (
    "Decision instants stay as recorded; only the clock changes (hours, time zone, "
    "SLA length, cutoff, holidays). Cover days change who may take a round, not its clock."
)


class SimulationPolicy(BaseModel):
    """The policy to simulate: a settings file's `calendar` and
    `cover_business_days`, given only where they differ from the defaults."""

    model_config = ConfigDict(extra="forbid")

    calendar: CalendarPolicy = Field(default_factory=CalendarPolicy)
    cover_business_days: int = Field(default=2, ge=0)


@dataclass(frozen=True, slots=True)
class SimulatedRound:
    """What the simulator needs of one decided round (a slotted dataclass:
    a simulation builds 100,000 of them)."""

    region: Region
    submitted_at: datetime
    decided_at: datetime
    actual_within: bool | None
    actual_hours: float | None
    urgent: bool = False


class Side(BaseModel):
    decided: int
    within: int
    breaches: int
    attainment: float | None
    median_hours: float | None


class RegionSimulation(BaseModel):
    region: str
    actual: Side
    simulated: Side


class Simulation(BaseModel):
    period: str
    regions: list[RegionSimulation]
    skipped: int = Field(description="Decided rounds without a recorded submission instant")
    cover_business_days: int
    note: str = SAME_DECISIONS


def simulated_round(
    r: ReviewRound, submitted_at: datetime | None, urgent: bool = False
) -> SimulatedRound | None:
    """A decided round as the simulator reads it; None without the instants."""
    start = submitted_at or r.clock_start
    if not r.decided or r.decided_at is None or start is None:
        return None
    return SimulatedRound(
        region=r.home_region,
        submitted_at=start,
        decided_at=r.decided_at,
        urgent=urgent,
        actual_within=r.within_sla,
        actual_hours=r.business_hours,
    )


def _side(verdicts: list[bool], hours: list[float]) -> Side:
    within = sum(verdicts)
    return Side(
        decided=len(verdicts),
        within=within,
        breaches=len(verdicts) - within,
        attainment=within / len(verdicts) if verdicts else None,
        median_hours=median(hours),
    )


def simulate(
    rounds: Sequence[SimulatedRound], policy: SimulationPolicy, period: str = ""
) -> Simulation:
    """Per home region: SLA attainment, breaches and median business hours as
    recorded, and as `policy`'s clock would have measured the same decisions."""
    calendar_policy = policy.calendar
    actual: dict[Region, tuple[list[bool], list[float]]] = {}
    simulated: dict[Region, tuple[list[bool], list[float]]] = {}
    for r in rounds:
        assigned = r.region
        if r.urgent:
            assigned, _ = choose_review_region(r.region, r.submitted_at, True, calendar_policy)
        calendar = calendar_for(assigned, calendar_policy)
        start = calendar.clock_start(r.submitted_at)
        deadline = calendar.add_business_hours(start, calendar.sla)
        spent = calendar.business_time_between(start, r.decided_at).total_seconds() / 3600
        verdicts, hours = simulated.setdefault(r.region, ([], []))
        verdicts.append(r.decided_at <= deadline)
        hours.append(max(0.0, spent))
        verdicts, hours = actual.setdefault(r.region, ([], []))
        if r.actual_within is not None:
            verdicts.append(r.actual_within)
        if r.actual_hours is not None:
            hours.append(r.actual_hours)
    return Simulation(
        period=period,
        regions=[
            RegionSimulation(
                region=region.value,
                actual=_side(*actual[region]),
                simulated=_side(*simulated[region]),
            )
            for region in Region
            if region in simulated
        ],
        skipped=0,
        cover_business_days=policy.cover_business_days,
    )
