"""The Temporal Schedules the system relies on, created idempotently at start."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from domain.settings import Settings
from workflows.intake_poll import IntakePollWorkflow
from workflows.reporting_projection import ReportingProjectionWorkflow

INTAKE_POLL_SCHEDULE = "om-intake-poll"
REPORTING_SCHEDULE = "om-reporting-projection"


async def create_if_missing(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the Schedule unless it exists; True when created. An existing
    one is left as it is: an operator may have paused or changed it on purpose
    (delete it to pick up changed settings)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True


def _every(workflow_run, run_id: str, settings: Settings, every) -> Schedule:  # type: ignore[no-untyped-def]
    """A schedule starting `workflow_run` every `every`, never two at once."""
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow_run, id=run_id, task_queue=settings.task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the schedules that do not exist yet; returns the ids created.
    An existing schedule is left as it is (it may have been paused on purpose)."""
    wanted = {
        INTAKE_POLL_SCHEDULE: _every(
            IntakePollWorkflow.run, "om-intake-poll-run", settings, settings.intake_poll_interval
        ),
        REPORTING_SCHEDULE: _every(
            ReportingProjectionWorkflow.run,
            "om-reporting-projection-run",
            settings,
            settings.reporting_interval,
        ),
    }
    created = [
        sid for sid, schedule in wanted.items() if await create_if_missing(client, sid, schedule)
    ]
    # Imported here: those modules build on create_if_missing above.
    from workers.license_schedules import ensure_license_review_schedules
    from workers.renewal_schedules import RENEWAL_SCHEDULE, ensure_renewal_schedule

    created += await ensure_license_review_schedules(client, settings)
    if await ensure_renewal_schedule(client, settings, apply=settings.renewals_apply):
        created.append(RENEWAL_SCHEDULE)
    return created
