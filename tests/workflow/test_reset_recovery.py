"""Recovering a workflow stuck on the old round-opening history
(docs/operations.md, "Recovering a workflow stuck on the old round-opening
history"), end to end on a dev server.

Before the fix an Update could be accepted while the round-opening local
activities ran, recorded between their markers; the fixed worker cannot
replay such a history, so the workflow stops. The race that produced it
(the round-opening task handed to the worker again, with the decision on it,
while the worker still held the half-done task) could not be provoked on
demand, so the old worker's completion of that task is sent here through the
raw `RespondWorkflowTaskCompleted` RPC: the commands and their order are those
the old worker recorded (tests/fixtures/known-bugs), and the Update is a live
decision sent through `Approvals`. The resulting history fails to replay with
the same `[TMPRL1100]` error as the recorded one.

Then, as the runbook says: the fixed worker fails the task, the workflow is
reset with the venv's `temporal` CLI to the workflow task before the
`UpdateAccepted` event with Updates not reapplied, the decisions are sent
again with their first ids, and the workflow finishes with each side effect
once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from temporalio.api.command.v1 import (
    Command,
    ProtocolMessageCommandAttributes,
    RecordMarkerCommandAttributes,
    UpsertWorkflowSearchAttributesCommandAttributes,
)
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.api.protocol.v1 import Message
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Acceptance, Meta, Outcome, Request, Response
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateStage
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from activities.policy import PolicyActivities
from domain.messages import ApprovalInput, Decision, DecisionReceipt
from domain.models import Opportunity
from om.approvals import Approvals
from om.settings import Settings
from tests.conftest import venv_binary
from tests.workflow.conftest import BILLING, OM, new_payload
from tests.workflow.fakes import FakeSystems
from workers.search_attributes import ensure_search_attributes
from workers.worker import build_worker
from workflows import ALL_WORKFLOWS
from workflows.opportunity_approval import OpportunityApprovalWorkflow

OLD_HISTORY = (
    Path(__file__).parents[1] / "fixtures" / "known-bugs" / "update-accepted-while-round-opens.json"
)
UPDATE_ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
UPDATE_ADMITTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED
TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
TASK_FAILED = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED


def recorded_events() -> dict[int, HistoryEvent]:
    history = History()
    json_format.Parse(OLD_HISTORY.read_text(), history, ignore_unknown_fields=True)
    return {e.event_id: e for e in history.events}


async def wait_for_event(handle: WorkflowHandle, kind: int, count: int = 1) -> WorkflowHistory:
    for _ in range(300):
        history = await handle.fetch_history()
        if sum(e.event_type == kind for e in history.events) >= count:
            return history
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never recorded {EventType.Name(kind)}")


async def complete_as_the_old_worker(client: Client, task_queue: str) -> None:
    """Complete the round-opening task the way the old worker did in the
    race: search attributes, the SLA plan's marker, the decision accepted and
    answered, the booking check's marker, search attributes, in one
    completion (events 13-19 of the recorded history)."""
    task = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            identity="old-worker",
        )
    )
    [request_message] = task.messages  # the decision rides on this task
    request = Request()
    request_message.body.Unpack(request)
    update_id = request.meta.update_id
    accept = Message(id=f"{update_id}/accept", protocol_instance_id=update_id)
    accept.body.Pack(
        Acceptance(
            accepted_request_message_id=request_message.id,
            accepted_request_sequencing_event_id=request_message.event_id,
            accepted_request=request,
        )
    )
    receipt = DecisionReceipt(
        round=1, stage="finance_review", message="om review approved (round 1); now finance_review"
    )
    outcome = Outcome()
    outcome.success.payloads.extend(await pydantic_data_converter.encode([receipt]))
    answer = Message(id=f"{update_id}/complete", protocol_instance_id=update_id)
    answer.body.Pack(Response(meta=Meta(update_id=update_id), outcome=outcome))

    old = recorded_events()

    def upsert(event_id: int) -> Command:
        attributes = old[event_id].upsert_workflow_search_attributes_event_attributes
        return Command(
            command_type=CommandType.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
            upsert_workflow_search_attributes_command_attributes=(
                UpsertWorkflowSearchAttributesCommandAttributes(
                    search_attributes=attributes.search_attributes
                )
            ),
        )

    def marker(event_id: int) -> Command:
        attributes = old[event_id].marker_recorded_event_attributes
        return Command(
            command_type=CommandType.COMMAND_TYPE_RECORD_MARKER,
            record_marker_command_attributes=RecordMarkerCommandAttributes(
                marker_name=attributes.marker_name, details=attributes.details
            ),
        )

    def message(m: Message) -> Command:
        return Command(
            command_type=CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE,
            protocol_message_command_attributes=ProtocolMessageCommandAttributes(message_id=m.id),
        )

    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=task.task_token,
            identity="old-worker",
            commands=[
                upsert(13),
                marker(14),
                message(accept),
                upsert(16),
                message(answer),
                marker(18),
                upsert(19),
            ],
            messages=[accept, answer],
        )
    )


async def temporal_cli(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        venv_binary("temporal"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    text = output.decode()
    assert process.returncode == 0, text
    return text


async def test_reset_before_the_update_recovers_a_stuck_workflow(
    dev_address: str, example_payload: dict[str, Any]
) -> None:
    client = await Client.connect(dev_address, data_converter=pydantic_data_converter)
    await ensure_search_attributes(client)
    settings = Settings(task_queue=f"test-{uuid.uuid4()}", cover_business_days=0)
    approvals = Approvals(client, settings)
    fakes = FakeSystems()
    opportunity = Opportunity.model_validate(new_payload(example_payload))
    handle = client.get_workflow_handle(f"opportunity-{opportunity.id}")
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)

    # Submitted; the CRM write's completion leaves the round-opening task waiting.
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=PolicyActivities(settings).all(),
        no_remote_activities=True,
        max_cached_workflows=0,
    ):
        await client.start_workflow(
            OpportunityApprovalWorkflow.run,
            ApprovalInput(opportunity=opportunity, submitted_at=datetime.now(UTC)),
            id=handle.id,
            task_queue=settings.task_queue,
        )
        await wait_for_event(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    async with Worker(client, task_queue=settings.task_queue, activities=fakes.activities()):
        await wait_for_event(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, 2)

    # The OM decision lands in the old shape.
    decision = asyncio.create_task(
        approvals.decide(opportunity.id, OM, "om", "approve", update_id="om-1")
    )
    await asyncio.sleep(0.5)  # admitted: it rides on the waiting task
    await complete_as_the_old_worker(client, settings.task_queue)
    assert (await asyncio.wait_for(decision, 10)).stage == "finance_review"
    old_history = await handle.fetch_history()
    old_run = old_history.run_id
    replay = await replayer.replay_workflow(old_history, raise_on_replay_failure=False)
    assert "[TMPRL1100] Nondeterminism error: Update machine does not handle this event" in str(
        replay.replay_failure
    )

    async with build_worker(client, settings, activities=fakes.activities()):
        # The fixed worker takes the next task (Billing's decision) and fails it.
        billing = asyncio.create_task(
            handle.start_update(
                OpportunityApprovalWorkflow.decide,
                Decision(actor=approvals.actor(BILLING), stage="finance", action="approve"),
                id="billing-1",
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
        )
        stuck = await wait_for_event(handle, TASK_FAILED)
        failed = next(e for e in stuck.events if e.event_type == TASK_FAILED)
        assert "[TMPRL1100]" in failed.workflow_task_failed_event_attributes.failure.message
        billing.cancel()

        # The runbook: reset to the task before UpdateAccepted, Updates not reapplied.
        accepted = next(e.event_id for e in old_history.events if e.event_type == UPDATE_ACCEPTED)
        reset_to = max(
            e.event_id
            for e in old_history.events
            if e.event_type == TASK_COMPLETED and e.event_id < accepted
        )
        await temporal_cli(
            "workflow",
            "reset",
            "--address",
            dev_address,
            "--workflow-id",
            handle.id,
            "--event-id",
            str(reset_to),
            "--reapply-exclude",
            "Update",
            "--reason",
            "Update accepted between local-activity markers",
        )
        new_run = (await handle.describe()).run_id
        assert new_run != old_run

        # The round opens again on the fixed worker, without the decision...
        for _ in range(200):
            status = await approvals.status(opportunity.id)
            if status.stage == "om_review" and status.pending_effects == 0:
                break
            await asyncio.sleep(0.05)
        assert status.stage == "om_review" and status.round == 1
        # ...which is sent again, with the ids the first attempts carried.
        om = await approvals.decide(opportunity.id, OM, "om", "approve", update_id="om-1")
        assert om.stage == "finance_review"
        won = await approvals.decide(
            opportunity.id, BILLING, "finance", "approve", update_id="billing-1"
        )
        assert won.stage == "closed_won"
        result = await asyncio.wait_for(
            client.get_workflow_handle_for(OpportunityApprovalWorkflow.run, handle.id).result(), 30
        )
        new_history = await handle.fetch_history()

    assert result.stage == "completed"
    assert [h.action for h in result.history].count("finance_review") == 1
    events = new_history.events
    assert not any(e.event_type == UPDATE_ADMITTED for e in events)
    accepted_ids = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in events
        if e.event_type == UPDATE_ACCEPTED
    ]
    assert accepted_ids == ["om-1", "billing-1"]
    # Each side effect once: the CRM writes, the license check, no ticket, no post.
    assert fakes.stages() == ["7-Closing", "Closed Won"]
    assert [u.license_delivery_date for u in fakes.crm_updates if u.license_delivery_date] == [
        result.license_delivery_date
    ]
    assert fakes.license_checks == 1 and not fakes.tickets and not fakes.chatter
    await replayer.replay_workflow(new_history)
