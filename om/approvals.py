"""Client-side operations on approval workflows, shared by the CLI and the API.

Every way a person or system acts on an opportunity goes through here, so
roster look-up, idempotent start and the translation of Temporal's errors
into `domain.errors` happen in one place.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.authorization import may_read
from domain.errors import Busy, Finished, KeyReused, NotSubmitted, Refused, UnknownUser
from domain.messages import (
    Actor,
    ApprovalInput,
    ApprovalStatus,
    Decision,
    DecisionReceipt,
    RepAction,
)
from domain.models import DecisionAction, DecisionStage, Opportunity, Region
from domain.names import APPROVAL_WORKFLOWS_QUERY, approval_workflow_id, opportunity_id_of
from domain.policy import RosterUser
from domain.queue import (
    CoverRule,
    QueueItem,
    for_region,
    parse_review_token,
    start_date_of,
)
from domain.sla import cover_rule
from domain.wording import decision_message, rep_action_message
from om.queue_snapshot import QueueSnapshot
from om.settings import Settings
from workflows import search_attributes as sa
from workflows.opportunity_approval import OpportunityApprovalWorkflow

_QUEUE_ATTRIBUTES = frozenset(key.name for key in sa.ALL_KEYS)
_LIST_PAGE_SIZE = 1000
ROW_MEMO = "om_row"
"""Memo key of what a queue row shows of the opportunity itself (name,
account, currency): set by the client at start, so no workflow command is
involved, and carried by the payload codec (encrypted when that is on),
unlike search attributes, which the server stores in clear."""
# Failure types raised by the workflow's validators (domain.authorization).
_REFUSAL_KIND = {
    "Forbidden": "forbidden",
    "Conflict": "conflict",
    "InvalidDecision": "invalid",
    "UnknownReasonCode": "invalid",
}


def _request_of(message: Any) -> Any:
    """A decision or rep action as its sender chose it: the actor by email."""
    if message is None:
        return None
    dumped = message.model_dump(mode="json")
    dumped["actor"] = str(dumped.get("actor", {}).get("email", "")).lower()
    return dumped


class _NotYet(Exception):
    """The workflow's "not yet" refusal, before the client has given up on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Approvals:
    """Start, inspect and act on opportunity approval workflows."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        patience_seconds: float = 10.0,
        snapshot: QueueSnapshot | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.snapshot = snapshot
        """The API's shared queue listing; None (CLI): every `queue` call lists."""
        self.patience_seconds = patience_seconds
        """How long a message the workflow answers "not yet" is sent again
        before the caller gets `Busy` (the API's 429)."""

    # ---- who ----------------------------------------------------------------

    def actor(self, who: str | RosterUser) -> Actor:
        """The person acting, as an Actor.

        A `RosterUser` is a person the caller has already verified (the API's
        token or console session, which may be someone mapped from the
        identity provider's groups and on no roster): taken as given. An
        email (the CLI's `--as`) is looked up on the roster; UnknownUser
        when it is not there."""
        user = who if isinstance(who, RosterUser) else self.settings.user(who)
        if user is None:
            raise UnknownUser(str(who))
        return Actor(email=user.email, role=user.role, regions=user.regions)

    # ---- start ----------------------------------------------------------------

    async def submit(
        self, opportunity: Opportunity, submitted_at: datetime | None = None
    ) -> tuple[str, bool]:
        """Start the opportunity's workflow unless one is running.

        Returns (workflow id, started). A repeated submission of a running
        workflow changes nothing; one whose approval already finished is refused.
        """
        workflow_id = approval_workflow_id(opportunity.id)
        if await self.is_running(workflow_id):
            return workflow_id, False
        submitted = submitted_at or opportunity.submitted_at or datetime.now(UTC)
        try:
            await self.client.start_workflow(
                OpportunityApprovalWorkflow.run,
                ApprovalInput(
                    opportunity=opportunity,
                    submitted_at=submitted,
                    license_recheck_seconds=self.settings.license_recheck_interval.total_seconds(),
                    auto_reject_on_findings=self.settings.auto_reject_on_findings,
                    channels=self.settings.channels,
                    continue_as_new_after_events=self.settings.continue_as_new_after_events,
                ),
                id=workflow_id,
                task_queue=self.settings.task_queue,
                memo={ROW_MEMO: row_memo(opportunity)},
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError as exc:
            status = await self.status(opportunity.id)
            raise Refused(
                f"opportunity {opportunity.id} already went through approval "
                f"(stage {status.stage}); nothing started"
            ) from exc
        if self.snapshot is not None:
            self.snapshot.changed()
        return workflow_id, True

    async def is_running(self, workflow_id: str) -> bool:
        """Whether the workflow exists and is still running."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    # ---- read ----------------------------------------------------------------

    def _handle(self, opportunity_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(approval_workflow_id(opportunity_id))

    async def status(self, opportunity_id: str) -> ApprovalStatus:
        """The workflow's own status (works for running and finished workflows)."""
        try:
            return await self._handle(opportunity_id).query(OpportunityApprovalWorkflow.status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise NotSubmitted(opportunity_id) from exc
            raise

    async def status_for(self, reader: RosterUser, opportunity_id: str) -> ApprovalStatus:
        """The status if `reader` may read this opportunity; otherwise the
        same `NotSubmitted` as for an id that was never submitted, so a
        caller cannot tell the two apart (`domain.authorization.may_read`)."""
        status = await self.status(opportunity_id)
        if not may_read(reader, status, datetime.now(UTC), self.settings):
            raise NotSubmitted(opportunity_id)
        return status

    def cover_now(self) -> CoverRule:
        """Which home regions are in an end-of-month/quarter cover window now."""
        return cover_rule(
            self.settings.calendar, datetime.now(UTC), self.settings.cover_business_days
        )

    async def queue(self, region: Region | None = None) -> list[QueueItem]:
        """Open reviews in priority order: from the shared snapshot when there
        is one (the API), else listed now."""
        if self.snapshot is not None:
            return await self.snapshot.items(
                region, lambda: self.list_queue(None), self.cover_now()
            )
        return await self.list_queue(region)

    async def list_queue(self, region: Region | None = None) -> list[QueueItem]:
        """Open reviews in priority order, from search attributes and memo alone.

        For a region: its own queue (including work handed off to it) plus
        the reviews of other regions it may take now (flagged `cover`, with
        the reason): breached ones, and those of home regions in an
        end-of-month/quarter cover window.
        """
        query = (
            f"{APPROVAL_WORKFLOWS_QUERY} AND ExecutionStatus='Running' "
            "AND OmStage IN ('om_review', 'finance_review')"
        )
        cover = self.cover_now()
        if region is not None:
            covered = [r.value for r in Region if r != region and cover(r)]
            query += f" AND (OmQueueRegion = '{region.value}' OR OmBreached = true"
            if covered:
                query += " OR OmRegion IN (" + ", ".join(f"'{r}'" for r in covered) + ")"
            query += ")"
        items = []
        async for execution_id, attrs, memo in self._list_search_attributes(query):
            home = Region(str(attrs.get("OmRegion")))
            queue_region = Region(str(attrs.get("OmQueueRegion") or home))
            priority = attrs.get("OmPriority") or ""
            facts = parse_review_token(attrs.get("OmReview"))
            stage = attrs.get("OmStage") or ""
            items.append(
                QueueItem(
                    opportunity_id=opportunity_id_of(execution_id),
                    stage=stage,
                    region=home,
                    queue_region=queue_region,
                    urgent=bool(attrs.get("OmUrgent")),
                    amount=attrs.get("OmAmount") or 0.0,
                    quote_start_date=start_date_of(priority),
                    sla_deadline=attrs.get("OmSlaDeadline"),  # ISO text; parsed here
                    breached=bool(attrs.get("OmBreached")),
                    assignee=attrs.get("OmAssignee") or None,
                    priority=priority,
                    name=_text(memo.get("name")),
                    account_name=_text(memo.get("account")),
                    currency=_text(memo.get("currency")),
                    round=facts.round,
                    resubmitted=(facts.round or 1) > 1,
                    findings_hard=facts.findings_hard,
                    findings_judgment=facts.findings_judgment,
                    clock_start=facts.clock_start,
                    handoff_reason=facts.handoff_reason,
                    reviewable_from=facts.reviewable_from if stage == "finance_review" else None,
                )
            )
        return for_region(items, region, cover)

    async def _list_search_attributes(
        self, query: str
    ) -> AsyncIterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(workflow id, our search attributes, queue-row memo) of each match,
        page by page.

        The raw RPC, with each attribute's JSON read directly: the SDK's
        `list_workflows` builds a full WorkflowExecution per row (memo, both
        attribute forms) and took 4.1 s of client CPU for 10,000 rows, this
        0.8 s, in slices of one page that keep the API's event loop free.
        Search attributes are plain JSON: the payload codec never sees them;
        the memo goes through the client's data converter (one batch a page).
        """
        token = b""
        while True:
            page = await self.client.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=self.client.namespace,
                    query=query,
                    page_size=_LIST_PAGE_SIZE,
                    next_page_token=token,
                )
            )
            memos = await self._row_memos(page.executions)
            for execution, memo in zip(page.executions, memos, strict=True):
                fields = execution.search_attributes.indexed_fields
                yield (
                    execution.execution.workflow_id,
                    {
                        name: json.loads(fields[name].data)
                        for name in _QUEUE_ATTRIBUTES & fields.keys()
                    },
                    memo,
                )
            token = page.next_page_token
            if not token:
                return

    async def _row_memos(self, executions: Any) -> list[dict[str, Any]]:
        """Each execution's queue-row memo; {} where there is none (workflows
        started before it was set) or it cannot be read (a key rotated out)."""
        where = [i for i, e in enumerate(executions) if ROW_MEMO in e.memo.fields]
        memos: list[dict[str, Any]] = [{} for _ in executions]
        if not where:
            return memos
        payloads = [executions[i].memo.fields[ROW_MEMO] for i in where]
        try:
            decoded = await self.client.data_converter.decode(payloads, [dict] * len(payloads))
        except Exception:  # one unreadable memo must not empty the queue: read one by one
            decoded = []
            for payload in payloads:
                try:
                    decoded.extend(await self.client.data_converter.decode([payload], [dict]))
                except Exception:
                    decoded.append({})
        for i, memo in zip(where, decoded, strict=True):
            memos[i] = memo if isinstance(memo, dict) else {}
        return memos

    # ---- act ----------------------------------------------------------------

    async def decide(
        self,
        opportunity_id: str,
        who: str | RosterUser,
        stage: DecisionStage,
        action: DecisionAction,
        reasons: list[str] | None = None,
        comment: str = "",
        round_: int | None = None,
        acknowledged: list[str] | None = None,
        update_id: str | None = None,
        overrides: list[str] | None = None,
    ) -> DecisionReceipt:
        """Send an OM or Billing decision; Refused when the workflow turns it away.

        `update_id` makes a resend after a lost answer safe: Temporal returns
        the first outcome for an Update id it has already completed, where a
        fresh Update would be refused as a second decision."""
        decision = Decision(
            actor=self.actor(who),
            stage=stage,
            action=action,
            reasons=reasons or [],
            comment=comment,
            round=round_,
            acknowledged=acknowledged or [],
            overrides=[code.strip().upper() for code in overrides or [] if code.strip()],
        )
        receipt = await self._update(
            opportunity_id, OpportunityApprovalWorkflow.decide, decision, update_id
        )
        # The handbook's words, not the workflow's stage names (domain.wording).
        message = decision_message(stage, action, receipt.round, receipt.stage)
        return receipt.model_copy(update={"message": message})

    async def rep_action(
        self,
        opportunity_id: str,
        action: str,
        who: str | RosterUser,
        comment: str = "",
        update_id: str | None = None,
    ) -> DecisionReceipt:
        """Resubmit, recall or close-lost on behalf of the opportunity's owner."""
        update = {
            "resubmit": OpportunityApprovalWorkflow.resubmit,
            "recall": OpportunityApprovalWorkflow.recall,
            "close_lost": OpportunityApprovalWorkflow.close_lost,
        }[action]
        rep = RepAction(actor=self.actor(who), comment=comment)
        receipt = await self._update(opportunity_id, update, rep, update_id)
        message = rep_action_message(action, receipt.round, receipt.stage)
        return receipt.model_copy(update={"message": message})

    async def _update(self, opportunity_id: str, update, arg, update_id=None) -> DecisionReceipt:  # type: ignore[no-untyped-def]
        """Send the Update, again while the workflow answers "not yet".

        The workflow refuses messages for the moment it records a policy
        answer (`OpportunityApprovalWorkflow._refuse_while_recording`):
        milliseconds on a quiet worker, seconds under load. A refused Update
        leaves no trace, so sending it again, with the same id, is safe."""
        deadline = time.monotonic() + self.patience_seconds
        delay = 0.05
        while True:
            try:
                receipt = await self._update_once(opportunity_id, update, arg, update_id)
            except _NotYet as exc:
                if time.monotonic() + delay > deadline:
                    raise Busy(f"busy: {exc.message}") from exc
            else:
                if update_id is not None:
                    await self._check_same_request(opportunity_id, update_id, update, arg)
                if self.snapshot is not None:
                    self.snapshot.forget(opportunity_id)
                return receipt
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _check_same_request(
        self, opportunity_id: str, update_id: str, update: Any, arg: Any
    ) -> None:
        """Raise `KeyReused` unless the Update Temporal accepted under
        `update_id` was this one: the same Update (decide, recall...) with
        the same request.

        Temporal answers a known Update id with the first outcome whatever
        the new arguments are, so a different request under a used key would
        be told "accepted" without being applied. The accepted request is in
        the run's history; checked after sending, so two different requests
        racing with one key are told apart too (the loser gets `KeyReused`).
        An id with no accepted request (the first one was refused) is fine:
        nothing was applied under it, and this request was judged afresh.
        The actor's role and regions are left out: they are the roster's,
        which may change between a send and its resend, not the request's."""
        accepted = await self._accepted_request(opportunity_id, update_id, type(arg))
        if accepted is None:
            return
        name, request = accepted
        if name != update._defn.name or _request_of(request) != _request_of(arg):
            raise KeyReused(update_id.split(":", 1)[-1])

    async def _accepted_request(
        self, opportunity_id: str, update_id: str, arg_type: type[Any]
    ) -> tuple[str, Any] | None:
        """(Update name, argument decoded as `arg_type`) of the Update
        accepted under `update_id` in the current run; None if none was."""
        async for event in self._handle(opportunity_id).fetch_history_events():
            if not event.HasField("workflow_execution_update_accepted_event_attributes"):
                continue
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.meta.update_id != update_id:
                continue
            values = await self.client.data_converter.decode(
                list(request.input.args.payloads), [arg_type]
            )
            return request.input.name, values[0] if values else None
        return None

    async def _update_once(
        self, opportunity_id: str, update: Any, arg: Any, update_id: str | None = None
    ) -> DecisionReceipt:
        try:
            receipt: DecisionReceipt = await self._handle(opportunity_id).execute_update(
                update, arg, id=update_id
            )
            return receipt
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            kind = getattr(cause, "type", None) or ""
            message = getattr(cause, "message", None) or str(cause)
            if kind == "NotYet":
                raise _NotYet(message) from exc
            raise Refused(f"refused: {message}", _REFUSAL_KIND.get(kind, "conflict")) from exc
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                # Temporal answers an Update to a closed workflow as to a
                # missing one; which of the two it is decides the advice.
                raise await self._not_open(opportunity_id) from exc
            if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
                raise Busy(
                    f"busy: too many decisions on {opportunity_id} at this moment "
                    f"({exc.message}); nothing changed, send it again"
                ) from exc
            raise

    async def _not_open(self, opportunity_id: str) -> NotSubmitted | Finished:
        """Why an opportunity's workflow cannot take a message: never started,
        or finished (named by the stage it ended in, else how it closed)."""
        try:
            description = await self._handle(opportunity_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return NotSubmitted(opportunity_id)
            raise
        stage = description.typed_search_attributes.get(sa.OM_STAGE)
        if stage is None:
            try:
                stage = (await self.status(opportunity_id)).stage
            except (RPCError, NotSubmitted):
                status = description.status
                stage = status.name.lower() if status is not None else "closed"
        return Finished(opportunity_id, str(stage))


def row_memo(opportunity: Opportunity) -> dict[str, str]:
    """What a queue row shows of the opportunity, stored in the workflow's memo."""
    return {
        "name": opportunity.name,
        "account": opportunity.account.name,
        "currency": opportunity.currency,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
