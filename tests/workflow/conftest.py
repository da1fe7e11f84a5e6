"""Fixtures for workflow tests: a worker with fake external systems on the
time-skipping server, driven through the same client-side operations the CLI
and API use."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.messages import ApprovalStatus
from domain.models import Opportunity
from om.approvals import Approvals
from om.settings import Settings
from tests.devserver import dev_server
from tests.replay.record import record_if_asked
from tests.workflow.fakes import FakeSystems
from workers.search_attributes import ensure_search_attributes
from workers.worker import build_worker
from workflows.opportunity_approval import OpportunityApprovalWorkflow

OM = "om.amer@example.com"
BILLING = "billing@example.com"
REP = "riley.rep@example.com"


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

    async def now(self) -> datetime:
        """The server's clock: what `workflow.now()` reads (pinned under `make test-dates`)."""
        return await self.env.get_current_time()

    async def submit(
        self, payload: dict[str, Any], submitted_at: datetime | None = None
    ) -> Opportunity:
        """Submit at the server's now unless told."""
        opportunity = Opportunity.model_validate(payload)
        at = submitted_at or await self.now()
        workflow_id, started = await self.approvals.submit(opportunity, at)
        assert started and workflow_id == f"opportunity-{opportunity.id}"
        self.started.append(workflow_id)
        await wait_stage(self, opportunity.id, "om_review")
        return opportunity

    async def status(self, opportunity_id: str) -> ApprovalStatus:
        return await self.approvals.status(opportunity_id)

    async def finish(self, opportunity_id: str) -> ApprovalStatus:
        """The workflow's result once it has ended. Polls first: waiting on a
        result lets the shared test server skip ahead to other tests' timers."""
        for _ in range(250):
            if (await self.status(opportunity_id)).stage in ("completed", "closed_lost"):
                break
            await asyncio.sleep(0.02)
        handle = self.env.client.get_workflow_handle_for(
            OpportunityApprovalWorkflow.run, f"opportunity-{opportunity_id}"
        )
        return await handle.result()


@asynccontextmanager
async def running_harness(
    env: WorkflowEnvironment, request: pytest.FixtureRequest, record: bool = True
) -> AsyncIterator[Harness]:
    """A harness with its worker running on `env`; records the histories of
    the workflows it started when `OM_RECORD_HISTORIES` is set (and `record`)."""
    h = Harness(env, FakeSystems())
    async with build_worker(env.client, h.settings, activities=h.fakes.activities()):
        yield h
        if record:
            await record_if_asked(env.client, h.started, request.node.name)


@pytest.fixture
async def harness(
    time_skipping_env: WorkflowEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    async with running_harness(time_skipping_env, request) as h:
        yield h


@pytest.fixture(scope="module")
def dev_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Temporal dev server (it has the visibility API the test server lacks)."""
    with dev_server(tmp_path_factory.mktemp("temporal-dev")) as address:
        yield address


async def dev_environment(address: str) -> WorkflowEnvironment:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    await ensure_search_attributes(client)
    return WorkflowEnvironment.from_client(client)


@pytest.fixture
async def dev_harness(dev_address: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The harness's worker and fakes on a dev server that can list workflows."""
    async with running_harness(await dev_environment(dev_address), request) as h:
        yield h


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
