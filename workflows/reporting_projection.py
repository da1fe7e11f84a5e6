"""ReportingProjectionWorkflow: one pass of the KPI reporting projection.

Workflow histories are the source of truth; a Schedule appends their new
transitions to the reporting store every few minutes (idempotent by event),
so `om kpi` never reads a spreadsheet and the approval workflows need no
reporting code of their own.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.messages import ActivityName


@workflow.defn
class ReportingProjectionWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            ActivityName.PROJECT_REPORTING,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
