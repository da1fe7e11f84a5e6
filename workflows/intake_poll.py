"""IntakePollWorkflow: one run of the intake poller, started by a Schedule.

A Salesforce callout can be lost; every few minutes this finds submissions
awaiting approval without a workflow and starts them. It runs from a
Temporal Schedule, not cron, so it shares the workers' retries, history and
visibility (docs/architecture.md, "Periodic work runs from Temporal
Schedules, not cron").
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.messages import ActivityName, PollReport


@workflow.defn
class IntakePollWorkflow:
    @workflow.run
    async def run(self) -> PollReport:
        report: PollReport = await workflow.execute_activity(
            ActivityName.INTAKE_POLL,
            result_type=PollReport,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return report
