"""RenewalReconciliationWorkflow on the time-skipping server, with a stand-in
registered under the real activity name, and the weekly Schedule's shape."""

from __future__ import annotations

import uuid

from temporalio import activity
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.worker import Worker

from domain.messages import ActivityName
from domain.reconciliation import DiscrepancyRow, RenewalsRun
from om.settings import Settings
from tests.clock import clock_now
from tests.replay.record import record_if_asked
from workers.schedules import RENEWAL_SCHEDULE, renewal_schedule
from workflows.renewal_reconciliation import RenewalReconciliationWorkflow


async def test_workflow_runs_the_activity_in_the_mode_asked(isolated_time_skipping_env, request):
    env = isolated_time_skipping_env
    calls: list[bool] = []

    @activity.defn(name=ActivityName.RECONCILE_RENEWALS)
    async def reconcile(apply: bool) -> RenewalsRun:
        calls.append(apply)
        now = clock_now()
        row = DiscrepancyRow(
            code="ORPHAN_RENEWAL", subscription_id=None, opportunity_id="006X", message="m"
        )
        return RenewalsRun(
            mode="apply" if apply else "report",
            started_at=now,
            finished_at=now,
            subscriptions_read=1,
            renewals_read=1,
            counts={"ORPHAN_RENEWAL": 1},
            discrepancies=[row],
        )

    task_queue = f"renewals-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[RenewalReconciliationWorkflow],
        activities=[reconcile],
    ):
        report = await env.client.execute_workflow(
            RenewalReconciliationWorkflow.run, id=f"{task_queue}-1", task_queue=task_queue
        )
        applied = await env.client.execute_workflow(
            RenewalReconciliationWorkflow.run, True, id=f"{task_queue}-2", task_queue=task_queue
        )

    await record_if_asked(env.client, [f"{task_queue}-1", f"{task_queue}-2"], request.node.name)
    assert calls == [False, True]
    assert report.mode == "report" and report.discrepancies[0].opportunity_id == "006X"
    assert applied.mode == "apply"


def test_weekly_schedule_is_monday_six_in_los_angeles_report_mode_by_default():
    schedule = renewal_schedule(Settings())
    [calendar] = schedule.spec.calendars
    assert schedule.spec.time_zone_name == "America/Los_Angeles"
    assert [r.start for r in calendar.day_of_week] == [1]
    assert [r.start for r in calendar.hour] == [6] and [r.start for r in calendar.minute] == [0]
    assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.args == [False] and action.id == f"{RENEWAL_SCHEDULE}-run"
    applying = renewal_schedule(Settings(), apply=True).action
    assert isinstance(applying, ScheduleActionStartWorkflow) and applying.args == [True]
