"""A decision sent while a review round is still opening (docs/architecture.md,
"Decisions while a round opens").

The round's SLA plan and booking check are local activities. While one runs
longer than the workflow task's heartbeat interval, the server hands new
Updates to the worker inside the same workflow task; an Update accepted
there is recorded between the two local-activity markers, and that history
does not replay (tests/fixtures/known-bugs). The workflow therefore turns
decisions away while a local activity is in flight, and the client sends
them again until the round is open.

The test makes the booking check slow (6 s, with a 2 s workflow task timeout,
so the task heartbeats every 1.6 s and the server hands the Update over at a
heartbeat while the check still runs) on a dev server, sends the decision in that
window, and replays the resulting history.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from activities.policy import PolicyActivities
from domain.errors import Busy
from domain.messages import (
    ActivityName,
    ApprovalInput,
    ApprovalStatus,
    BookingCheckRequest,
    Finding,
)
from domain.models import Opportunity
from om.approvals import Approvals
from om.audit import fetch_runs
from om.settings import Settings
from tests.workflow.conftest import OM, REP, new_payload
from tests.workflow.fakes import FakeSystems
from workers.search_attributes import ensure_search_attributes
from workflows import ALL_WORKFLOWS
from workflows.opportunity_approval import OpportunityApprovalWorkflow

SLOW_CHECK_SECONDS = 6.0
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


def slowed_policy(
    settings: Settings, started: asyncio.Event, slow: asyncio.Event | None = None
) -> list[Any]:
    """The real policy local activities, the booking check held for a while
    (once `slow` is set, when given)."""
    policy = PolicyActivities(settings)
    others = [a for a in policy.all() if a != policy.booking_check]

    @activity.defn(name=ActivityName.BOOKING_CHECK)
    async def slow_booking_check(request: BookingCheckRequest) -> list[Finding]:
        if slow is None or slow.is_set():
            started.set()
            await asyncio.sleep(SLOW_CHECK_SECONDS)
        return await policy.booking_check(request)

    return [*others, slow_booking_check]


async def test_decision_during_a_slow_round_opening_waits_and_the_history_replays(
    dev_address: str, example_payload: dict[str, Any]
) -> None:
    client = await Client.connect(dev_address, data_converter=pydantic_data_converter)
    await ensure_search_attributes(client)
    settings = Settings(task_queue=f"test-{uuid.uuid4()}", cover_business_days=0)
    # The client gives up quickly, so the refusal is seen, not waited out.
    impatient = Approvals(client, settings, patience_seconds=0.0)
    patient = Approvals(client, settings)
    check_started = asyncio.Event()
    opportunity = Opportunity.model_validate(new_payload(example_payload))
    workflow_id = f"opportunity-{opportunity.id}"
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[*FakeSystems().activities(), *slowed_policy(settings, check_started)],
    )
    async with worker:
        await client.start_workflow(
            OpportunityApprovalWorkflow.run,
            ApprovalInput(opportunity=opportunity, submitted_at=datetime.now(UTC)),
            id=workflow_id,
            task_queue=settings.task_queue,
            task_timeout=timedelta(seconds=2),
        )
        await asyncio.wait_for(check_started.wait(), 30)
        await asyncio.sleep(2.0)  # past the task's first heartbeat (1.6 s)

        refused: Busy | None = None
        try:
            await impatient.decide(opportunity.id, OM, "om", "approve", update_id="om-1")
        except Busy as exc:
            refused = exc
        assert refused is not None and "between steps" in str(refused)

        receipt = await patient.decide(opportunity.id, OM, "om", "approve", update_id="om-1")
        assert receipt.round == 1 and receipt.stage == "finance_review"
        status = await patient.status(opportunity.id)
        # Judged after the round opened: its booking check is on the timeline first.
        actions = [h.action for h in status.history]
        assert actions.index("booking_check") < actions.index("finance_review")

        history = await client.get_workflow_handle(workflow_id).fetch_history()
    accepted = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1  # the refused attempt left no trace
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_decision_while_a_continued_run_opens_a_round_waits_too(
    dev_address: str, example_payload: dict[str, Any]
) -> None:
    """The same window in a run that continued as new: its counter of local
    activities in flight starts at zero and guards the new round the same way."""
    client = await Client.connect(dev_address, data_converter=pydantic_data_converter)
    await ensure_search_attributes(client)
    settings = Settings(task_queue=f"test-{uuid.uuid4()}", cover_business_days=0)
    impatient = Approvals(client, settings, patience_seconds=0.0)
    patient = Approvals(client, settings)
    check_started, slow = asyncio.Event(), asyncio.Event()
    opportunity = Opportunity.model_validate(new_payload(example_payload))
    workflow_id = f"opportunity-{opportunity.id}"
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[*FakeSystems().activities(), *slowed_policy(settings, check_started, slow)],
    )
    async with worker:
        await client.start_workflow(
            OpportunityApprovalWorkflow.run,
            ApprovalInput(
                opportunity=opportunity,
                submitted_at=datetime.now(UTC),
                continue_as_new_after_events=1,  # a new run at every quiet point
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            task_timeout=timedelta(seconds=2),
        )

        async def reach(stage: str) -> ApprovalStatus:
            for _ in range(100):
                status = await patient.status(opportunity.id)
                if status.stage == stage and status.pending_effects == 0:
                    return status
                await asyncio.sleep(0.1)
            raise AssertionError(f"never reached {stage}: {status}")

        await reach("om_review")
        await patient.decide(opportunity.id, OM, "om", "reject", reasons=["OTHER"], comment="x")
        assert (await reach("rejected")).run > 1
        slow.set()
        await patient.rep_action(opportunity.id, "resubmit", REP)
        await asyncio.wait_for(check_started.wait(), 30)
        await asyncio.sleep(2.0)  # past the task's first heartbeat (1.6 s)

        with pytest.raises(Busy, match="between steps"):
            await impatient.decide(opportunity.id, OM, "om", "approve", update_id="om-2")
        receipt = await patient.decide(opportunity.id, OM, "om", "approve", update_id="om-2")
        assert receipt.round == 2 and receipt.stage == "finance_review"
        status = await patient.status(opportunity.id)
        assert status.run > 1
        runs = await fetch_runs(client, workflow_id)
    accepted = [
        e
        for run in runs
        for e in run.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        == "om-2"
    ]
    assert len(accepted) == 1  # the refused attempt left no trace
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    for run in runs:
        await replayer.replay_workflow(run)
