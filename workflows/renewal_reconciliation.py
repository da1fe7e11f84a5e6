"""RenewalReconciliationWorkflow: one weekly renewal / subscription
reconciliation, started by the `om-renewal-reconciliation` Schedule on
Monday before AMER opening, or by hand (docs/architecture.md, "Renewal
reconciliation").

All the work is one activity: reading a million subscriptions, the pure
`reconcile` and the batched fixes belong together, and every fix is
idempotent, so a retried attempt simply reruns the whole reconciliation and
only redoes what is left. The activity heartbeats while it reads and writes,
so a lost worker is noticed in minutes although a run may take hours.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.messages import ActivityName
    from domain.reconciliation import RenewalsRun


@workflow.defn
class RenewalReconciliationWorkflow:
    @workflow.run
    async def run(self, apply: bool = False) -> RenewalsRun:
        """`apply` False reports only; True also writes the fixes."""
        report: RenewalsRun = await workflow.execute_activity(
            ActivityName.RECONCILE_RENEWALS,
            apply,
            result_type=RenewalsRun,
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(minutes=1),
                backoff_coefficient=2.0,
                maximum_interval=timedelta(minutes=30),
                maximum_attempts=5,
                non_retryable_error_types=["InvalidRenewalData", "RequestRejected"],
            ),
        )
        return report
