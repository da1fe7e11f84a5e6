"""The small Schedule-started workflows: each runs its one activity.

They are here mostly so their histories are recorded (`make
record-histories`) and replayed like every other workflow's.
"""

from __future__ import annotations

import uuid

from temporalio import activity
from temporalio.worker import Worker

from domain.messages import ActivityName, PollReport
from tests.replay.record import record_if_asked
from workflows.intake_poll import IntakePollWorkflow
from workflows.reporting_projection import ReportingProjectionWorkflow


async def _run(env, workflow_run, activities, request):  # type: ignore[no-untyped-def]
    task_queue = f"periodic-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[IntakePollWorkflow, ReportingProjectionWorkflow],
        activities=activities,
    ):
        handle = await env.client.start_workflow(workflow_run, id=task_queue, task_queue=task_queue)
        result = await handle.result()
    await record_if_asked(env.client, [handle.id], request.node.name)
    return result


async def test_intake_poll_workflow_returns_the_poll_report(isolated_time_skipping_env, request):
    @activity.defn(name=ActivityName.INTAKE_POLL)
    async def poll() -> PollReport:
        return PollReport(awaiting=3, already_running=2, started=["006A"])

    report = await _run(isolated_time_skipping_env, IntakePollWorkflow.run, [poll], request)
    assert report == PollReport(awaiting=3, already_running=2, started=["006A"])


async def test_reporting_projection_workflow_runs_the_projection_once(
    isolated_time_skipping_env, request
):
    calls = []

    @activity.defn(name=ActivityName.PROJECT_REPORTING)
    async def project() -> None:
        calls.append(1)

    await _run(isolated_time_skipping_env, ReportingProjectionWorkflow.run, [project], request)
    assert calls == [1]
