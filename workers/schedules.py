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
from workers.license_schedules import ensure_license_review_schedules
from workflows.intake_poll import IntakePollWorkflow

INTAKE_POLL_SCHEDULE = "om-intake-poll"


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the schedules that do not exist yet; returns the ids created."""
    created = []
    try:
        await client.create_schedule(
            INTAKE_POLL_SCHEDULE,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    IntakePollWorkflow.run,
                    id="om-intake-poll-run",
                    task_queue=settings.task_queue,
                ),
                spec=ScheduleSpec(
                    intervals=[ScheduleIntervalSpec(every=settings.intake_poll_interval)]
                ),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
        created.append(INTAKE_POLL_SCHEDULE)
    except ScheduleAlreadyRunningError:
        pass
    created += await ensure_license_review_schedules(client, settings)
    return created
