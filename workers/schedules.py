"""The Temporal Schedules the system relies on, created idempotently at start.

- `om-intake-poll`: every `intake_poll_interval`, start submissions whose
  Salesforce callout was lost.
- `om-reporting-projection`: every `reporting_interval`, project workflow
  histories into the reporting store.
- `om-license-review-<REGION>`: the daily license delivery review, at the
  region's opening time on its working weekdays, in its own time zone.
  Holidays are not in the spec (the `holidays` data lives in policy): the
  workflow skips them itself.
- `om-renewal-reconciliation`: Mondays 06:00 America/Los_Angeles, before
  AMER opens, so the report is waiting when Order Management starts the
  week. Report mode unless `renewals_apply`: applying fixes to Salesforce
  unattended is a policy decision.

Temporal evaluates a calendar in its `time_zone_name`, so 08:00
Europe/London stays 08:00 across daylight saving changes. None of these
runs overlaps itself (`SKIP`): two reconciliations at once could both
create a missing renewal, and a review still running when the next is due
has nothing to gain from a second.

An existing Schedule is left as it is: an operator may have paused or
changed it on purpose (delete it to pick up changed settings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from domain.calendar import RegionHours
from domain.models import Region
from om.settings import Settings
from workflows.intake_poll import IntakePollWorkflow
from workflows.license_review import LicenseReviewWorkflow
from workflows.renewal_reconciliation import RenewalReconciliationWorkflow
from workflows.reporting_projection import ReportingProjectionWorkflow

INTAKE_POLL_SCHEDULE = "om-intake-poll"
REPORTING_SCHEDULE = "om-reporting-projection"
LICENSE_REVIEW_PREFIX = "om-license-review-"
RENEWAL_SCHEDULE = "om-renewal-reconciliation"
RENEWAL_HOUR = 6
RENEWAL_TIME_ZONE = "America/Los_Angeles"
_MONDAY = 0  # policy weekdays count from Monday = 0, Temporal's from Sunday = 0


async def create_if_missing(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the Schedule unless it exists; True when created."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True


def _starting(
    run: Callable[..., Any], args: list[Any], run_id: str, settings: Settings, spec: ScheduleSpec
) -> Schedule:
    """A Schedule starting `run(*args)` on `spec`, never two at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            run, args=args, id=run_id, task_queue=settings.task_queue
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def _every(every: timedelta) -> ScheduleSpec:
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])


def _weekly(
    at_hour: int, at_minute: int, at_second: int, weekdays: tuple[int, ...], zone: str, why: str
) -> ScheduleSpec:
    """At a local wall-clock time on policy weekdays (Monday = 0) in `zone`."""
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(at_second)],
                minute=[ScheduleRange(at_minute)],
                hour=[ScheduleRange(at_hour)],
                day_of_week=[ScheduleRange((d + 1) % 7) for d in weekdays],
                comment=why,
            )
        ],
        time_zone_name=zone,
    )


def license_review_schedule_id(region: Region) -> str:
    return f"{LICENSE_REVIEW_PREFIX}{Region(region).value}"


def review_spec(hours: RegionHours) -> ScheduleSpec:
    """Opening time on the region's working weekdays, in its time zone."""
    return _weekly(
        hours.open.hour,
        hours.open.minute,
        hours.open.second,
        hours.workdays,
        hours.time_zone,
        "license delivery review at the region's opening",
    )


def license_review_schedule(region: Region, settings: Settings) -> Schedule:
    schedule_id = license_review_schedule_id(region)
    return _starting(
        LicenseReviewWorkflow.run,
        [Region(region)],
        f"{schedule_id}-run",
        settings,
        review_spec(settings.calendar.hours_for(region)),
    )


def renewal_spec() -> ScheduleSpec:
    """Mondays at 06:00 in Los Angeles."""
    return _weekly(
        RENEWAL_HOUR,
        0,
        0,
        (_MONDAY,),
        RENEWAL_TIME_ZONE,
        "weekly renewal reconciliation before AMER opening",
    )


def renewal_schedule(settings: Settings, apply: bool = False) -> Schedule:
    return _starting(
        RenewalReconciliationWorkflow.run,
        [apply],
        f"{RENEWAL_SCHEDULE}-run",
        settings,
        renewal_spec(),
    )


def wanted_schedules(settings: Settings) -> dict[str, Schedule]:
    """Every Schedule the system relies on, by id."""
    wanted = {
        INTAKE_POLL_SCHEDULE: _starting(
            IntakePollWorkflow.run,
            [],
            "om-intake-poll-run",
            settings,
            _every(settings.intake_poll_interval),
        ),
        REPORTING_SCHEDULE: _starting(
            ReportingProjectionWorkflow.run,
            [],
            "om-reporting-projection-run",
            settings,
            _every(settings.reporting_interval),
        ),
    }
    for region in Region:
        wanted[license_review_schedule_id(region)] = license_review_schedule(region, settings)
    wanted[RENEWAL_SCHEDULE] = renewal_schedule(settings, apply=settings.renewals_apply)
    return wanted


async def ensure_license_review_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the regions' review Schedules that do not exist yet; the ids created."""
    created = []
    for region in Region:
        schedule_id = license_review_schedule_id(region)
        if await create_if_missing(client, schedule_id, license_review_schedule(region, settings)):
            created.append(schedule_id)
    return created


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the Schedules that do not exist yet; returns the ids created."""
    return [
        schedule_id
        for schedule_id, schedule in wanted_schedules(settings).items()
        if await create_if_missing(client, schedule_id, schedule)
    ]
