"""The weekly renewal / subscription reconciliation Schedule (issue 5).

Monday 06:00 America/Los_Angeles, before AMER opens, so the report is
waiting when Order Management starts the week. Temporal evaluates the
calendar in the time zone, so the run stays at 06:00 across daylight saving
changes. Report mode by default: applying fixes to Salesforce unattended is
a policy decision, passed in as `apply`.
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

from domain.settings import Settings
from workers.schedules import create_if_missing
from workflows.renewal_reconciliation import RenewalReconciliationWorkflow

RENEWAL_SCHEDULE = "om-renewal-reconciliation"
RUN_AT_HOUR = 6
TIME_ZONE = "America/Los_Angeles"
MONDAY = 1  # Temporal counts weekdays from Sunday = 0


def renewal_spec() -> ScheduleSpec:
    """Mondays at 06:00 in Los Angeles."""
    return ScheduleSpec(
        calendars=[
            ScheduleCalendarSpec(
                second=[ScheduleRange(0)],
                minute=[ScheduleRange(0)],
                hour=[ScheduleRange(RUN_AT_HOUR)],
                day_of_week=[ScheduleRange(MONDAY)],
                comment="weekly renewal reconciliation before AMER opening",
            )
        ],
        time_zone_name=TIME_ZONE,
    )


def renewal_schedule(settings: Settings, apply: bool = False) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RenewalReconciliationWorkflow.run,
            apply,
            id=f"{RENEWAL_SCHEDULE}-run",
            task_queue=settings.task_queue,
        ),
        spec=renewal_spec(),
        # Two reconciliations at once could both create a missing renewal.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_renewal_schedule(client: Client, settings: Settings, apply: bool = False) -> bool:
    """Create the Schedule if it does not exist; True when created. An
    existing one is left as it is (an operator may have paused it or switched
    it to apply): delete it to pick up a changed `apply`."""
    return await create_if_missing(client, RENEWAL_SCHEDULE, renewal_schedule(settings, apply))
