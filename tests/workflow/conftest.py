"""Fixtures for workflow tests: a worker with fake external systems on the
time-skipping server, driven through the same client-side operations the CLI
and API use."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.messages import ApprovalStatus
from domain.models import Opportunity
from domain.settings import Settings
from tests.replay.record import record_histories
from tests.workflow.fakes import FakeSystems
from workers.approvals import Approvals
from workers.worker import build_worker
from workflows.opportunity_approval import OpportunityApprovalWorkflow

OM = "om.amer@example.com"
BILLING = "billing@example.com"
REP = "riley.rep@example.com"
SUBMITTED = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 08:00 Pacific


class Harness:
    """One worker on its own task queue, fake external systems, and the
    same client-side operations the CLI and API use."""

    def __init__(self, env: WorkflowEnvironment, fakes: FakeSystems) -> None:
        self.env = env
        self.fakes = fakes
        # No end-of-month cover by default, so who may decide does not depend
        # on the day the tests run; cover tests turn it on.
        self.settings = Settings(task_queue=f"test-{uuid.uuid4()}", cover_business_days=0)
        self.approvals = Approvals(env.client, self.settings)
        self.started: list[str] = []

    async def submit(
        self, payload: dict[str, Any], submitted_at: datetime | None = None
    ) -> Opportunity:
        """Submit now (the test server's clock is the real one) unless told."""
        opportunity = Opportunity.model_validate(payload)
        workflow_id, started = await self.approvals.submit(opportunity, submitted_at)
        assert started and workflow_id == f"opportunity-{opportunity.id}"
        self.started.append(workflow_id)
        await wait_stage(self, opportunity.id, "om_review")
        return opportunity

    async def status(self, opportunity_id: str) -> ApprovalStatus:
        return await self.approvals.status(opportunity_id)

    async def finish(self, opportunity_id: str) -> ApprovalStatus:
        handle = self.env.client.get_workflow_handle_for(
            OpportunityApprovalWorkflow.run, f"opportunity-{opportunity_id}"
        )
        return await handle.result()


@pytest.fixture
async def harness(
    time_skipping_env: WorkflowEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    fakes = FakeSystems()
    h = Harness(time_skipping_env, fakes)
    async with build_worker(time_skipping_env.client, h.settings, activities=fakes.activities()):
        yield h
        if os.environ.get("OM_RECORD_HISTORIES"):
            await record_histories(time_skipping_env.client, h.started, request.node.name)


def new_payload(example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    example = dict(example)
    example["id"] = "006TEST" + uuid.uuid4().hex[:10].upper()
    example.update(changes)
    return example


async def wait_stage(harness: Harness, opportunity_id: str, stage: str) -> ApprovalStatus:
    """Poll the query until the workflow reached `stage` and carried out the
    side effects of the transition (CRM writes, Chatter posts, recorded clock)."""
    for _ in range(250):
        status = await harness.status(opportunity_id)
        if status.stage == stage and status.pending_effects == 0:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"{opportunity_id} never reached {stage}; last {status.stage}")
