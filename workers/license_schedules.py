"""The daily license delivery review Schedules: one per region, at the
region's opening time on its working weekdays, in its own time zone.

Temporal evaluates the calendar in `time_zone_name`, so 08:00 Europe/London
stays 08:00 across daylight saving changes. Holidays are not in the spec
(the `holidays` data lives in policy): the workflow skips them itself.
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from domain.calendar import RegionHours
from domain.models import Region
from domain.settings import Settings
from workers.schedules import create_if_missing
from workflows.license_review import LicenseReviewWorkflow

SCHEDULE_PREFIX = "om-license-review-"


def license_review_schedule_id(region: Region) -> str:
    return f"{SCHEDULE_PREFIX}{Region(region).value}"


def review_spec(hours: RegionHours) -> ScheduleSpec:
    """Opening time on the region's working weekdays, in its time zone.
    Temporal counts weekdays from Sunday=0; the policy from Monday=0."""
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(hours.open.second)],
                minute=[ScheduleRange(hours.open.minute)],
                hour=[ScheduleRange(hours.open.hour)],
                day_of_week=[ScheduleRange((d + 1) % 7) for d in hours.workdays],
                comment="license delivery review at the region's opening",
            )
        ],
        time_zone_name=hours.time_zone,
    )


def license_review_schedule(region: Region, settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            LicenseReviewWorkflow.run,
            Region(region),
            id=f"{license_review_schedule_id(region)}-run",
            task_queue=settings.task_queue,
        ),
        spec=review_spec(settings.calendar.hours_for(region)),
        # A review still running when the next one is due: skip the new one.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_license_review_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the regions' review Schedules that do not exist yet; returns
    the ids created. An existing Schedule is left as it is (an operator may
    have paused it): delete it to pick up a changed opening time."""
    created = []
    for region in Region:
        schedule_id = license_review_schedule_id(region)
        if await create_if_missing(client, schedule_id, license_review_schedule(region, settings)):
            created.append(schedule_id)
    return created
