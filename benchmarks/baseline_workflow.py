"""The load benchmark's baseline: a workflow of the same shape as
OpportunityApprovalWorkflow with no business logic, and no-op activities.

Why: `make bench-load` reports our throughput as a share of what the same
server, worker process and driver allow for a workflow that does the same
Temporal work. "Same shape" is checked, not assumed: the benchmark counts
the events of both histories by type (on a quiet machine, 53 events for a
delivered license and 77 for one delivered after a Support ticket; see
docs/performance.md, "Load: the whole cycle on one machine"):

- the same patch marker, 7 (8) search-attribute upserts of the same nine
  attributes, 4 local activities, 4 (7) activities, the two decisions as
  Updates with validators, the SLA timer started then cancelled by the first
  decision, and for an undelivered license the recheck timer;
- the same workflow task boundaries (each activity result wakes the loop);
- the same start payload (the opportunity as JSON) and a status query.

The license "service" is the argument itself: the recheck after the first
timer reports it delivered, as our driver's delivery does on the sandbox.
Nothing here imports our workflow, domain or activity code, so the module
the sandbox re-imports per workflow is this small file alone.

Run as a worker process (the benchmark starts it; settings from the same
environment as `om worker`: TEMPORAL_ADDRESS, OM_TASK_QUEUE, OM_WORKER__*,
OM_METRICS_BIND):  .venv/bin/python benchmarks/baseline_workflow.py
"""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

WORKFLOW_TYPE = "BaselineCycleWorkflow"
PATCH = "baseline-v1"
# The SLA checkpoint timer of a fresh round (50 % of 12 business hours):
# long enough that only the first decision ends it, as in our cycle.
SLA_CHECKPOINT = timedelta(hours=6)
ACTIVITY_TIMEOUT = timedelta(seconds=60)
LOCAL_TIMEOUT = timedelta(seconds=10)

# Our workflow's search attributes, by name (registered by `om worker`).
# Declared again rather than imported from workflows.search_attributes on
# purpose: importing it loads the `workflows` package, all five of our
# workflow modules, into the baseline's sandbox for every instance, and the
# ceiling would pay part of our cost.
STAGE = SearchAttributeKey.for_keyword("OmStage")
REGION = SearchAttributeKey.for_keyword("OmRegion")
QUEUE_REGION = SearchAttributeKey.for_keyword("OmQueueRegion")
PRIORITY = SearchAttributeKey.for_keyword("OmPriority")
SLA_DEADLINE = SearchAttributeKey.for_datetime("OmSlaDeadline")
BREACHED = SearchAttributeKey.for_bool("OmBreached")
URGENT = SearchAttributeKey.for_bool("OmUrgent")
AMOUNT = SearchAttributeKey.for_float("OmAmount")
ASSIGNEE = SearchAttributeKey.for_keyword("OmAssignee")


# ---- no-op activities (registered under their own names) ----------------------


@activity.defn(name="baseline.remote")
async def remote(request: dict[str, Any]) -> dict[str, Any]:
    """Stands in for every activity: CRM writes, tickets, license checks.
    A license check answers delivered when told to, or from the first recheck."""
    return {"delivered": bool(request.get("delivered")) or request.get("check", 0) >= 2}


@activity.defn(name="baseline.local")
async def local(request: dict[str, Any]) -> dict[str, Any]:
    """Stands in for the policy local activities (plan, check, business time, close date)."""
    return {"ok": True, "what": request.get("what")}


# ---- the workflow ----------------------------------------------------------------


@workflow.defn(name=WORKFLOW_TYPE)
class BaselineCycleWorkflow:
    """Submitted -> om_review -> finance_review -> closed_won -> license ->
    completed, moved on by two Updates, with no decisions of its own."""

    @workflow.init
    def __init__(self, inp: dict[str, Any]) -> None:
        self._opportunity: dict[str, Any] = inp["opportunity"]
        self._delivered = bool(inp["delivered"])
        self._recheck = timedelta(seconds=float(inp["recheck_seconds"]))
        self._stage = "submitted"
        self._round = 0

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        workflow.patched(PATCH)  # its marker and TemporalChangeVersion upsert, as ours
        await self._remote("crm.submitted")
        self._round = 1
        self._enter("om_review")
        await self._local("plan_review_round")
        await self._local("booking_check")
        self._publish()
        try:
            await workflow.wait_condition(
                lambda: self._stage != "om_review", timeout=SLA_CHECKPOINT
            )
        except TimeoutError:
            await workflow.wait_condition(lambda: self._stage != "om_review")
        await self._local("business_time")
        await workflow.wait_condition(lambda: self._stage != "finance_review")
        await self._local("close_date")
        await self._remote("crm.closed_won")
        self._enter("license_check")
        check = 1
        delivered = (await self._remote("license.check", check=check))["delivered"]
        if not delivered:
            await self._remote("support.create_ticket")
            self._enter("license_ticket")
            while not delivered:
                await workflow.sleep(self._recheck)
                check += 1
                delivered = (await self._remote("license.check", check=check))["delivered"]
            await self._remote("support.solve_ticket")
        await self._remote("crm.license_delivery_date")
        self._enter("completed")
        return self.status()

    @workflow.update
    async def decide(self, decision: dict[str, Any]) -> dict[str, Any]:
        self._check(decision)
        self._enter("finance_review" if decision["stage"] == "om" else "closed_won")
        return {"round": self._round, "stage": self._stage}

    @decide.validator
    def _validate_decide(self, decision: dict[str, Any]) -> None:
        self._check(decision)

    @workflow.query
    def status(self) -> dict[str, Any]:
        return {"stage": self._stage, "round": self._round, "pending_effects": 0}

    def _check(self, decision: dict[str, Any]) -> None:
        wanted = {"om": "om_review", "finance": "finance_review"}.get(decision.get("stage", ""))
        if wanted != self._stage or decision.get("round") not in (None, self._round):
            raise ValueError(f"no {decision.get('stage')} review pending (now {self._stage})")

    def _enter(self, stage: str) -> None:
        self._stage = stage
        self._publish()

    def _publish(self) -> None:
        opp = self._opportunity
        region = str(opp.get("account", {}).get("region", "AMER"))
        workflow.upsert_search_attributes(
            [
                STAGE.value_set(self._stage),
                REGION.value_set(region),
                QUEUE_REGION.value_set(region),
                PRIORITY.value_set(f"1|{opp.get('id', '')}|{self._round}"),
                BREACHED.value_set(False),
                URGENT.value_set(bool(opp.get("urgent"))),
                AMOUNT.value_set(float(opp.get("amount") or 0.0)),
                ASSIGNEE.value_set(""),
                SLA_DEADLINE.value_set(datetime(2100, 1, 1, tzinfo=UTC)),
            ]
        )

    async def _remote(self, what: str, check: int = 0) -> dict[str, Any]:
        return await workflow.execute_activity(
            remote,
            {
                "what": what,
                "opportunity_id": self._opportunity.get("id"),
                "delivered": self._delivered,
                "check": check,
            },
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    async def _local(self, what: str) -> dict[str, Any]:
        return await workflow.execute_local_activity(
            local, {"what": what}, start_to_close_timeout=LOCAL_TIMEOUT
        )


# ---- the worker process --------------------------------------------------------------


async def run_worker() -> None:
    """A worker for the baseline alone, tuned like `om worker` (settings.worker)."""
    from temporalio.worker import Worker

    from om.client import connect
    from om.settings import Settings
    from workers.worker import worker_options

    settings = Settings()
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[BaselineCycleWorkflow],
        activities=[remote, local],
        **worker_options(settings.worker),
    )
    await worker.run()


def main() -> None:
    import asyncio
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker())


if __name__ == "__main__":
    # Import this file under its module name: the sandbox cannot re-import __main__ cheaply.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    importlib.import_module("benchmarks.baseline_workflow").main()
