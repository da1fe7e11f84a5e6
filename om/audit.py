"""The audit timeline of an opportunity, read from its Temporal event history.

Why from the history and not from the workflow's `status` query: the status
is the workflow's own summary, computed by today's code, while the event
history is the durable record Temporal keeps of what actually happened: who
sent which Update, what each activity was asked and answered, and the values
recorded once by local activities (SLA plans, pre-check findings, close dates)
that replay reads back instead of recomputing. An auditor can check the same
history with `om replay`, so the timeline and the proof rest on one record.

What the history holds, and so what the timeline can say:
- the workflow input (`ApprovalInput`): the submission;
- `core_local_activity` markers: each round's SLA plan (`ReviewPlan`, or the
  older `ReviewClock`), pre-check findings, business time to decision and the
  close date rule; the marker's `data` detail names the local activity, its
  `result` detail is the recorded answer;
- accepted Updates (`decide`, `resubmit`, `recall`, `close_lost`) with the
  request as sent, and their completion with the workflow's receipt;
- activities (CRM writes, Chatter, license checks, tickets, notifications)
  with their inputs and results, and timers.
Refused Updates never reach the history (their validator turns them away
first), so the timeline states that instead of showing them.

A workflow that continued as new has several runs under one workflow id,
each with its own history; the timeline reads them all, oldest first
(`fetch_runs` follows the chain back through each run's start event). A
continued run's input carries where the run before it stood, so one run can
also be read alone: its rounds keep their numbers and plans.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from domain.calendar import calendar_for
from domain.errors import OmError
from domain.messages import (
    ActivityName,
    ApprovalInput,
    CarriedState,
    ChatterPost,
    CloseDate,
    CrmUpdate,
    Decision,
    DecisionReceipt,
    LicenseStatus,
    Notification,
    RepAction,
    ReviewClock,
    SolveTicket,
    Ticket,
    TicketRequest,
)
from domain.models import Region
from domain.names import APPROVAL_WORKFLOW_TYPE
from domain.requirements import Finding
from domain.sla import CHECKPOINT_WORDS, ReviewPlan
from domain.timefmt import local_label

LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"
# A timer whose due time lies this close to an SLA checkpoint is that
# checkpoint's timer (the workflow sets it to exactly `checkpoint.at - now`).
_CHECKPOINT_MATCH = timedelta(seconds=2)

# Entry kinds, in the words an auditor filters by.
SUBMITTED = "submitted"
RUN_CONTINUED = "run_continued"
REVIEW_ROUND = "review_round"
PRE_CHECK = "pre_check"
DECISION = "decision"  # Order Management (including the automatic pre-check)
FINANCE_REVIEW = "finance_review"  # Billing
REP_ACTION = "rep_action"
UPDATE_REFUSED = "update_refused"
UPDATE = "update"
BUSINESS_TIME = "business_time"
CLOSE_DATE = "close_date"
CRM_UPDATE = "crm_update"
CHATTER = "chatter"
LICENSE_CHECK = "license_check"
TICKET = "ticket"
TICKET_SOLVED = "ticket_solved"
NOTIFICATION = "notification"
SLA_TIMER = "sla_timer"
TIMER = "timer"
ACTIVITY = "activity"
LOCAL_ACTIVITY = "local_activity"
SIGNAL = "signal"
WORKFLOW_END = "workflow_end"

REFUSALS_NOTE = (
    "Refused decisions and rep actions (unknown or unauthorized person, invalid "
    "decision, duplicate, or a stale round) are turned away by the workflow's Update "
    "validators before they are accepted, so by design they never enter the event "
    "history and are not in this timeline; the sender was told the reason at once."
)

_UPDATE_PAYLOADS: dict[str, type[BaseModel]] = {
    "decide": Decision,
    "resubmit": RepAction,
    "recall": RepAction,
    "close_lost": RepAction,
}
# Activity name -> (input type, result type); None: decode as plain JSON.
_ACTIVITY_TYPES: dict[str, tuple[type | None, type | None]] = {
    ActivityName.UPDATE_OPPORTUNITY: (CrmUpdate, None),
    ActivityName.POST_CHATTER: (ChatterPost, str),
    ActivityName.CHECK_LICENSE: (str, LicenseStatus),
    ActivityName.CREATE_TICKET: (TicketRequest, Ticket),
    ActivityName.SOLVE_TICKET: (SolveTicket, None),
    ActivityName.NOTIFY: (Notification, None),
}
_ACTIVITY_KINDS: dict[str, str] = {
    ActivityName.UPDATE_OPPORTUNITY: CRM_UPDATE,
    ActivityName.POST_CHATTER: CHATTER,
    ActivityName.CHECK_LICENSE: LICENSE_CHECK,
    ActivityName.CREATE_TICKET: TICKET,
    ActivityName.SOLVE_TICKET: TICKET_SOLVED,
    ActivityName.NOTIFY: NOTIFICATION,
}


class AuditError(OmError):
    """The history cannot be read as an opportunity approval (wrong type, empty)."""


class TimelineEntry(BaseModel):
    """One auditable fact, with the history event it comes from."""

    at_utc: datetime
    at_local: datetime = Field(description="The same instant in the home region's time zone")
    kind: str
    actor: str = Field(description="Email of the person, or intake / workflow / pre-check")
    role: str | None = None
    region: str | None = Field(
        default=None,
        description="The actor's regions for people; the reviewing queue's region for rounds",
    )
    round: int | None = None
    summary: str
    event_id: int = Field(description="The history event that records it (see history.json)")
    run: int = Field(
        default=1, description="The run whose history holds the event: 1, then one per continue"
    )
    data: dict[str, Any] = Field(default_factory=dict)


class Timeline(BaseModel):
    """Everything the history says about one opportunity's approval."""

    opportunity_id: str
    opportunity_name: str = ""
    workflow_id: str
    run_id: str = Field(default="", description="The last run read")
    runs: list[str] = Field(
        default_factory=list, description="Every run read, oldest first (continue-as-new)"
    )
    region: Region
    time_zone: str
    status: str = Field(description="running, completed, failed, terminated, ...")
    stage: str | None = Field(default=None, description="The last stage the history shows")
    event_count: int = Field(description="History events read, over every run")
    entries: list[TimelineEntry] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[TimelineEntry]:
        """The entries of the given kinds, in history order."""
        return [e for e in self.entries if e.kind in kinds]

    def to_markdown(self) -> str:
        """The timeline as a Markdown document (the evidence pack's timeline.md)."""
        title = (
            f"{self.opportunity_id} ({self.opportunity_name})"
            if self.opportunity_name
            else (self.opportunity_id)
        )
        chained = len(self.runs) > 1
        runs = (
            ", runs " + ", ".join(f"{n} `{r}`" for n, r in enumerate(self.runs, 1))
            if chained
            else (f", run `{self.run_id}`" if self.run_id else "")
        )
        lines = [
            f"# Audit timeline: opportunity {title}",
            "",
            f"- Workflow: `{self.workflow_id}`{runs}",
            f"- Home region: {self.region.value}; times in UTC and {self.time_zone}",
            f"- Status: {self.status}" + (f"; stage {self.stage}" if self.stage else ""),
            f"- History events: {self.event_count}",
            "",
            f"| # | UTC | Local ({self.region.value}) | Kind | Who | Round | Summary | Event |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for number, entry in enumerate(self.entries, 1):
            cells = [
                str(number),
                f"{entry.at_utc:%Y-%m-%d %H:%M:%S}",
                local_label(entry.at_local, self.region, clock="%Y-%m-%d %H:%M:%S"),
                entry.kind,
                who(entry),
                "" if entry.round is None else str(entry.round),
                entry.summary,
                f"{entry.run}:{entry.event_id}" if chained else str(entry.event_id),
            ]
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def who(entry: TimelineEntry) -> str:
    """`actor (role, regions)` for display."""
    details = ", ".join(p for p in (entry.role, entry.region) if p)
    return f"{entry.actor} ({details})" if details and entry.actor != "workflow" else entry.actor


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def build_timeline(
    history: WorkflowHistory | list[WorkflowHistory],
    converter: DataConverter = pydantic_data_converter,
) -> Timeline:
    """Render the audit timeline of an OpportunityApprovalWorkflow: one run,
    or the runs of one workflow id oldest first (as `fetch_runs` returns them).

    `converter` must be the one the workflow's payloads were written with
    (the project's pydantic converter). Raises AuditError when a history is
    empty or of another workflow type.
    """
    histories = [history] if isinstance(history, WorkflowHistory) else list(history)
    if not histories:
        raise AuditError("no history to read")
    return _Reader(histories, converter).read()


async def fetch_runs(
    client: Client,
    workflow_id: str,
    run_id: str | None = None,
    known: dict[str, WorkflowHistory] | None = None,
) -> list[WorkflowHistory]:
    """The history of `run_id` (default: the latest run) and of every run it
    continues, oldest first.

    Each run's start event names the run it continues
    (`continued_execution_run_id`), so the chain is followed back from the
    newest. `known` holds histories already fetched, by run id; the closed
    runs fetched here are added to it (their history no longer grows). RPC
    errors propagate (NOT_FOUND for an unknown id).
    """
    chain: list[WorkflowHistory] = []
    seen: set[str] = set()
    current = run_id
    while True:
        history = (known or {}).get(current or "")
        if history is None:
            history = await client.get_workflow_handle(workflow_id, run_id=current).fetch_history()
            closed = bool(history.events) and history.events[-1].event_type in _END_EVENTS
            if known is not None and current and closed:
                known[current] = history  # it will not grow
        chain.append(history)
        first = history.events[0] if history.events else None
        previous = (
            first.workflow_execution_started_event_attributes.continued_execution_run_id
            if first is not None
            else ""
        )
        if not previous or previous in seen:
            break
        seen.add(previous)
        current = previous
    chain.reverse()
    return chain


# ---- reading the history ----------------------------------------------------------


@dataclass
class _Round:
    number: int
    reason: str
    plan: ReviewPlan | ReviewClock | None = None
    breached: bool = False


@dataclass
class _Activity:
    name: str
    input: Any
    scheduled_event_id: int
    scheduled_at: datetime


@dataclass
class _PendingUpdate:
    entry: TimelineEntry
    name: str
    request: Any


@dataclass
class _Measure:
    round: _Round
    decided_at: datetime


@dataclass
class _Reader:
    histories: list[WorkflowHistory]
    converter: DataConverter
    entries: list[TimelineEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    patches: list[str] = field(default_factory=list)
    # workflow.now() of the workflow task whose commands are being read
    now: datetime = datetime.min.replace(tzinfo=UTC)
    task_started: dict[int, datetime] = field(default_factory=dict)
    rounds: list[_Round] = field(default_factory=list)
    planned: int = 0  # rounds whose plan marker has been read
    stage: str | None = None
    status: str = "running"
    om_approver: str | None = None
    ticket_id: int | None = None
    activities: dict[int, _Activity] = field(default_factory=dict)
    timers: dict[int, datetime] = field(default_factory=dict)
    updates: dict[str, _PendingUpdate] = field(default_factory=dict)
    to_measure: list[_Measure] = field(default_factory=list)
    run: int = 1
    run_ids: list[str] = field(default_factory=list)
    event_count: int = 0

    def __post_init__(self) -> None:
        self.payloads = self.converter.payload_converter

    # ---- entry point ----------------------------------------------------------

    def read(self) -> Timeline:
        for index, history in enumerate(self.histories):
            events = list(history.events)
            self._read_run(history, events, first=index == 0)
            self._run_read(events)
        self._finish(events)
        self.entries.sort(key=lambda e: (e.run, e.event_id))
        return Timeline(
            opportunity_id=self.input.opportunity.id,
            opportunity_name=self.input.opportunity.name,
            workflow_id=self.histories[-1].workflow_id,
            run_id=self.run_ids[-1],
            runs=self.run_ids,
            region=self.region,
            time_zone=str(self.tz),
            status=self.status,
            stage=self.stage,
            event_count=self.event_count,
            entries=self.entries,
            notes=self.notes,
        )

    def _read_run(self, history: WorkflowHistory, events: list[HistoryEvent], first: bool) -> None:
        if not events or events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            raise AuditError(f"history of {history.workflow_id} has no start event")
        started = events[0].workflow_execution_started_event_attributes
        if started.workflow_type.name != APPROVAL_WORKFLOW_TYPE:
            raise AuditError(
                f"{history.workflow_id} is a {started.workflow_type.name}, "
                f"not an {APPROVAL_WORKFLOW_TYPE}"
            )
        inp = self._decode_one(started.input.payloads, ApprovalInput)
        if not isinstance(inp, ApprovalInput):
            raise AuditError(
                f"the input of {history.workflow_id} is not an ApprovalInput this version can read"
            )
        self.input = inp
        if first:
            self.region = inp.opportunity.account.region
            self.tz = calendar_for(self.region).tz
        # Event ids start again at 1 in every run: what pairs events is per run.
        self.run = inp.carried.run if inp.carried else 1
        self.run_ids.append(started.original_execution_run_id)
        self.event_count += len(events)
        self.task_started, self.activities, self.timers = {}, {}, {}
        self.status = "running"
        self._started(events[0], first)
        for event in events[1:]:
            self._read_event(event)

    def _run_read(self, events: list[HistoryEvent]) -> None:
        """Close what the run left open: Updates without an outcome, activities
        still pending (a run that continued as new leaves none)."""
        for pending in self.updates.values():
            pending.entry.summary += "; outcome not recorded yet"
        self.updates = {}
        for activity in self.activities.values():
            scheduled = next(e for e in events if e.event_id == activity.scheduled_event_id)
            self._activity_entry(scheduled, activity, None, "pending")
        self.activities = {}

    def _read_event(self, event: HistoryEvent) -> None:
        t = EventType
        handlers = {
            t.EVENT_TYPE_WORKFLOW_TASK_STARTED: self._task_started,
            t.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: self._task_completed,
            t.EVENT_TYPE_MARKER_RECORDED: self._marker,
            t.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: self._activity_scheduled,
            t.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: self._activity_completed,
            t.EVENT_TYPE_ACTIVITY_TASK_FAILED: self._activity_failed,
            t.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: self._activity_failed,
            t.EVENT_TYPE_ACTIVITY_TASK_CANCELED: self._activity_failed,
            t.EVENT_TYPE_TIMER_STARTED: self._timer_started,
            t.EVENT_TYPE_TIMER_FIRED: self._timer_fired,
            t.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: self._update_accepted,
            t.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: self._update_completed,
            t.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: self._signaled,
        }
        handler = handlers.get(event.event_type)
        if handler is not None:
            handler(event)
        elif event.event_type in _END_EVENTS:
            self._ended(event)

    # ---- helpers --------------------------------------------------------------

    def _entry(
        self,
        event: HistoryEvent,
        kind: str,
        summary: str,
        *,
        at: datetime | None = None,
        actor: str = "workflow",
        role: str | None = None,
        region: str | None = None,
        round: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> TimelineEntry:
        at = (at or _event_time(event)).astimezone(UTC)
        entry = TimelineEntry(
            at_utc=at,
            at_local=at.astimezone(self.tz),
            kind=kind,
            actor=actor,
            role=role,
            region=region,
            round=round,
            summary=summary,
            event_id=event.event_id,
            run=self.run,
            data=data or {},
        )
        self.entries.append(entry)
        return entry

    def _decode(self, payloads: Any, type_hint: type | None) -> tuple[Any, Any]:
        """(typed value or None when it does not fit today's model, plain JSON value)."""
        items: list[Payload] = list(payloads)
        if not items:
            return None, None
        raw = self.payloads.from_payloads(items[:1])[0]
        if type_hint is None:
            return raw, raw
        try:
            return self.payloads.from_payloads(items[:1], [type_hint])[0], raw
        except (ValidationError, ValueError, TypeError):
            return None, raw

    def _decode_one(self, payloads: Any, type_hint: type | None) -> Any:
        return self._decode(payloads, type_hint)[0]

    def _undecodable(self, event: HistoryEvent, what: str, raw: Any) -> None:
        self.notes.append(
            f"Event {event.event_id}: the {what} does not fit today's model; shown as recorded."
        )
        self._entry(event, "undecoded", f"{what} (as recorded)", data={"recorded": raw})

    def _when(self, at: datetime) -> str:
        """`2026-11-30 09:00 AMER (UTC-08:00), 17:00 UTC`: the region's clock first,
        then UTC; seconds only when the instant has them (short test SLAs)."""
        at = at.astimezone(UTC)
        local = at.astimezone(self.tz)
        clock = "%H:%M:%S" if at.second or at.microsecond else "%H:%M"
        utc = at.strftime(clock if local.date() == at.date() else f"%Y-%m-%d {clock}")
        return f"{local_label(at, self.region, clock=f'%Y-%m-%d {clock}')}, {utc} UTC"

    def _round(self, number: int | None = None) -> _Round | None:
        number = number or len(self.rounds)
        return self.rounds[number - 1] if 0 < number <= len(self.rounds) else None

    def _begin_round(self, reason: str) -> None:
        self.rounds.append(_Round(number=len(self.rounds) + 1, reason=reason))
        self.stage = "om_review"

    # ---- events ---------------------------------------------------------------

    def _started(self, event: HistoryEvent, first: bool) -> None:
        inp, opp = self.input, self.input.opportunity
        attrs = event.workflow_execution_started_event_attributes
        self.now = _event_time(event)
        if first and attrs.continued_execution_run_id:
            self.notes.append(
                f"This run continues run {attrs.continued_execution_run_id}; the earlier "
                "runs' events are in their own histories (`om audit` reads every run)."
            )
        if inp.carried is not None:
            self._continued(event, inp.carried, seed=first)
            return
        self._entry(
            event,
            SUBMITTED,
            f"{opp.name} submitted for approval: {opp.amount:,.2f} {opp.currency}, "
            f"{opp.type.value}, {opp.deployment.value}, owner {opp.owner.email}"
            + (", urgent" if opp.urgent else ""),
            at=inp.submitted_at,
            actor="intake",
            region=self.region.value,
            data={
                "opportunity_id": opp.id,
                "name": opp.name,
                "owner": opp.owner.email,
                "amount": opp.amount,
                "currency": opp.currency,
                "deployment": opp.deployment.value,
                "urgent": opp.urgent,
                "quote": opp.quote.number,
                "quote_start_date": opp.quote.start_date.isoformat()
                if opp.quote.start_date
                else None,
                "submitted_at": inp.submitted_at.isoformat(),
                "workflow_started_at": _event_time(event).isoformat(),
                "started_by": attrs.identity,
                "auto_reject_on_findings": inp.auto_reject_on_findings,
            },
        )
        self.stage = "submitted"
        self._begin_round("submitted for approval")

    def _continued(self, event: HistoryEvent, carried: CarriedState, seed: bool) -> None:
        """A run that continues an earlier one: where it picks up. Read alone,
        the carried state stands in for the earlier runs (round numbers and
        reasons, the open round's plan, the OM approver, the ticket)."""
        if seed:
            self.rounds = [
                _Round(number=r.round, reason=r.reason, breached=r.breached) for r in carried.rounds
            ]
            if self.rounds:
                self.rounds[-1].plan = carried.plan or carried.clock
            self.planned = len(self.rounds)
            self.om_approver = carried.om_approver
            self.ticket_id = carried.ticket_id
        self.stage = carried.stage.value
        self._entry(
            event,
            RUN_CONTINUED,
            f"run {carried.run} continues run {carried.previous_run_id} (history grown long): "
            f"round {carried.round}, stage {carried.stage.value}",
            round=carried.round,
            data={
                "run": carried.run,
                "previous_run_id": carried.previous_run_id,
                "stage": carried.stage.value,
                "round": carried.round,
                "rounds": len(carried.rounds),
                "history_entries": len(carried.history),
            },
        )

    def _task_started(self, event: HistoryEvent) -> None:
        self.task_started[event.event_id] = _event_time(event)

    def _task_completed(self, event: HistoryEvent) -> None:
        started = event.workflow_task_completed_event_attributes.started_event_id
        self.now = self.task_started.get(started, _event_time(event))

    def _marker(self, event: HistoryEvent) -> None:
        attrs = event.marker_recorded_event_attributes
        if attrs.marker_name == PATCH_MARKER and "patch-data" in attrs.details:
            patch = self._decode_one(attrs.details["patch-data"].payloads, None) or {}
            if isinstance(patch, dict) and patch.get("id"):
                self.patches.append(str(patch["id"]))
            return
        if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in attrs.details:
            return
        meta = self._decode_one(attrs.details["data"].payloads, None) or {}
        name = str(meta.get("activity_type", "")) if isinstance(meta, dict) else ""
        if attrs.HasField("failure"):
            self._entry(
                event,
                LOCAL_ACTIVITY,
                f"{name} failed: {attrs.failure.message}",
                data={"activity_type": name, "failure": attrs.failure.message},
            )
            return
        result = attrs.details["result"].payloads if "result" in attrs.details else []
        readers: dict[str, tuple[Any, Callable[[HistoryEvent, Any], None]]] = {
            ActivityName.PLAN_REVIEW_ROUND: (ReviewPlan, self._round_planned),
            ActivityName.REVIEW_CLOCK: (ReviewClock, self._round_planned),
            ActivityName.BOOKING_CHECK: (list[Finding], self._pre_check),
            ActivityName.BUSINESS_TIME: (float, self._business_time),
            ActivityName.CLOSE_DATE: (CloseDate, self._close_date),
        }
        if name not in readers:
            value = self._decode_one(result, None)
            self._entry(
                event,
                LOCAL_ACTIVITY,
                f"{name or 'local activity'} recorded",
                data={"activity_type": name, "result": value},
            )
            return
        type_hint, reader = readers[name]
        value, raw = self._decode(result, type_hint)
        if value is None and raw is not None:
            self._undecodable(event, f"result of {name}", raw)
            return
        reader(event, value)

    def _round_planned(self, event: HistoryEvent, plan: ReviewPlan | ReviewClock) -> None:
        self.planned += 1
        current = self._round(self.planned) or _Round(self.planned, "unknown")
        current.plan = plan
        data: dict[str, Any] = {
            "reason": current.reason,
            "clock_start": plan.clock_start.isoformat(),
            "sla_deadline": plan.sla_deadline.isoformat(),
        }
        summary = (
            f"review round {current.number} ({current.reason}): SLA clock starts "
            f"{self._when(plan.clock_start)}, deadline {self._when(plan.sla_deadline)}"
        )
        queue_region = self.region.value
        if isinstance(plan, ReviewPlan):
            queue_region = plan.assigned_region.value
            data |= {
                "home_region": plan.home_region.value,
                "assigned_region": queue_region,
                "handoff_reason": plan.handoff_reason,
                "checkpoints": [c.model_dump(mode="json") for c in plan.checkpoints],
                "cover_windows": [w.model_dump(mode="json") for w in plan.cover_windows],
            }
            summary += f"; queue {queue_region}"
            if plan.handoff_reason:
                summary += f" (handed off: {plan.handoff_reason})"
            # Read by attribute name so plans recorded before a field existed still read.
            billing_due = getattr(plan, "billing_review_due", None)
            if billing_due is not None:
                data["billing_review_due"] = billing_due.isoformat()
                summary += f"; Billing reviews from {self._when(billing_due)}"
        else:
            data["plan"] = "legacy review clock (before the SLA plan)"
        self._entry(
            event,
            REVIEW_ROUND,
            summary,
            region=queue_region,
            round=current.number,
            data=data,
        )

    def _pre_check(self, event: HistoryEvent, findings: list[Finding]) -> None:
        number = self.planned
        summary = (
            "; ".join(f"{f.code} ({f.field}, {f.severity})" for f in findings)
            if findings
            else "no findings"
        )
        self._entry(
            event,
            PRE_CHECK,
            f"booking pre-check: {summary}",
            actor="pre-check",
            round=number,
            data={"findings": [f.model_dump(mode="json") for f in findings]},
        )
        hard = list(dict.fromkeys(f.code for f in findings if f.severity == "hard"))
        current = self._round(number)
        if not (
            self.input.auto_reject_on_findings
            and hard
            and self.stage == "om_review"
            and current is not None
            and number == len(self.rounds)
        ):
            return
        # The workflow rejects by itself here, without an Update: nothing in the
        # history names it but the rule (input flag + hard findings) it follows.
        self.stage = "rejected"
        self._entry(
            event,
            DECISION,
            f"Order Management rejected round {number} automatically [{', '.join(hard)}]: "
            "the pre-check found missing booking requirements",
            actor="pre-check",
            role="order_management",
            region=self.region.value,
            round=number,
            data={"stage": "om", "action": "reject", "reasons": hard, "inferred": True},
        )
        self.notes.append(
            f"Round {number} was rejected by the automatic pre-check: the workflow input "
            "enables auto_reject_on_findings and the recorded findings are hard; the "
            "rejection follows from those two recorded facts (it is not an Update)."
        )
        if isinstance(current.plan, ReviewPlan):
            self.to_measure.append(_Measure(current, self.now))

    def _business_time(self, event: HistoryEvent, seconds: float) -> None:
        measure = self.to_measure.pop(0) if self.to_measure else None
        if measure is None:
            self._entry(event, BUSINESS_TIME, f"{_business(seconds)} measured")
            return
        plan = measure.round.plan
        deadline = plan.sla_deadline if plan else None
        met = deadline is not None and measure.decided_at <= deadline
        early = plan is not None and seconds == 0 and measure.decided_at < plan.clock_start
        took = "before its SLA clock started" if early else f"after {_business(seconds)}"
        summary = (
            f"round {measure.round.number} decided {took}; SLA {'met' if met else 'missed'}"
            + (f" (deadline {self._when(deadline)})" if deadline else "")
        )
        self._entry(
            event,
            BUSINESS_TIME,
            summary,
            round=measure.round.number,
            data={
                "business_seconds": seconds,
                "business_hours": round(seconds / 3600, 4),
                "decided_at": measure.decided_at.isoformat(),
                "sla_deadline": deadline.isoformat() if deadline else None,
                "sla_met": met,
            },
        )

    def _close_date(self, event: HistoryEvent, close: CloseDate) -> None:
        self._entry(
            event,
            CLOSE_DATE,
            f"close date {close.close_date.isoformat()}, rule {close.rule}: {close.explanation}",
            data=close.model_dump(mode="json"),
        )

    # activities --------------------------------------------------------------------

    def _activity_scheduled(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        input_type = _ACTIVITY_TYPES.get(name, (None, None))[0]
        value, raw = self._decode(attrs.input.payloads, input_type)
        self.activities[event.event_id] = _Activity(
            name=name,
            input=value if value is not None else raw,
            scheduled_event_id=event.event_id,
            scheduled_at=_event_time(event),
        )

    def _activity_completed(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_completed_event_attributes
        activity = self.activities.pop(attrs.scheduled_event_id, None)
        if activity is None:
            return
        result_type = _ACTIVITY_TYPES.get(activity.name, (None, None))[1]
        value, raw = self._decode(attrs.result.payloads, result_type)
        self._activity_entry(event, activity, value if value is not None else raw, "completed")

    def _activity_failed(self, event: HistoryEvent) -> None:
        t = EventType
        if event.event_type == t.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            scheduled, how = failed.scheduled_event_id, f"failed: {failed.failure.message}"
        elif event.event_type == t.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            scheduled, how = timed_out.scheduled_event_id, f"timed out: {timed_out.failure.message}"
        else:
            scheduled, how = (
                event.activity_task_canceled_event_attributes.scheduled_event_id,
                "canceled",
            )
        activity = self.activities.pop(scheduled, None)
        if activity is not None:
            self._activity_entry(event, activity, None, how)

    def _activity_entry(
        self, event: HistoryEvent, activity: _Activity, result: Any, outcome: str
    ) -> None:
        """One entry per activity, dated when its outcome was recorded."""
        kind = _ACTIVITY_KINDS.get(activity.name, ACTIVITY)
        inp = activity.input
        ok = outcome == "completed"
        data: dict[str, Any] = {
            "activity_type": activity.name,
            "input": _jsonable(inp),
            "result": _jsonable(result),
            "outcome": outcome,
            "scheduled_at": activity.scheduled_at.isoformat(),
            "scheduled_event_id": activity.scheduled_event_id,
        }
        if isinstance(inp, CrmUpdate):
            fields = {
                k: v
                for k, v in inp.model_dump(mode="json", exclude={"opportunity_id"}).items()
                if v is not None
            }
            summary = "CRM opportunity updated: " + ", ".join(f"{k}={v}" for k, v in fields.items())
        elif isinstance(inp, ChatterPost):
            summary = f"Chatter post: {inp.body.splitlines()[0] if inp.body else ''}"
        elif activity.name == ActivityName.CHECK_LICENSE:
            if isinstance(result, LicenseStatus) and result.delivered:
                delivered = result.delivered_at
                summary = "license check: delivered" + (
                    f" {self._when(delivered)}" if delivered else ""
                )
            else:
                summary = "license check: not delivered yet"
        elif isinstance(inp, TicketRequest):
            if isinstance(result, Ticket):
                self.ticket_id = result.id
                summary = f"Support ticket {result.id} opened ({result.status}): {inp.subject}"
                data["ticket_id"] = result.id
            else:
                summary = f"Support ticket requested: {inp.subject}"
        elif isinstance(inp, SolveTicket):
            summary = f"Support ticket {inp.ticket_id} solved: {inp.comment}"
            data["ticket_id"] = inp.ticket_id
        elif isinstance(inp, Notification):
            summary = f"notification to {inp.channel}: {inp.text}"
            self._note_breach(inp)
        else:
            summary = f"activity {activity.name}"
        if not ok:
            summary = f"{summary} [{outcome}]"
        self._entry(event, kind, summary, data=data)

    def _note_breach(self, notification: Notification) -> None:
        """A breach notification marks its round breached (cover for every region)."""
        key = notification.idempotency_key
        for current in self.rounds:
            if f"-round-{current.number}-breach" in key:
                current.breached = True

    # timers ------------------------------------------------------------------------

    def _timer_started(self, event: HistoryEvent) -> None:
        attrs = event.timer_started_event_attributes
        self.timers[event.event_id] = self.now + attrs.start_to_fire_timeout.ToTimedelta()

    def _timer_fired(self, event: HistoryEvent) -> None:
        attrs = event.timer_fired_event_attributes
        due = self.timers.pop(attrs.started_event_id, None)
        current = self._round()
        plan = current.plan if current else None
        checkpoint = None
        if due is not None and current is not None and isinstance(plan, ReviewPlan):
            # The closest checkpoint: test plans put them half a second apart.
            checkpoint = min(plan.checkpoints, key=lambda c: abs(c.at - due), default=None)
            if checkpoint is not None and abs(checkpoint.at - due) > _CHECKPOINT_MATCH:
                checkpoint = None
        if checkpoint is not None and current is not None and isinstance(plan, ReviewPlan):
            if checkpoint.kind == "breach":
                summary = (
                    f"SLA deadline of round {current.number} passed without a decision "
                    f"({self._when(plan.sla_deadline)}): breached, escalated to the "
                    f"{plan.assigned_region.value} manager and offered to every region"
                )
                current.breached = True
            else:
                summary = (
                    f"{CHECKPOINT_WORDS[checkpoint.kind]} of the round {current.number} "
                    f"SLA used (deadline {self._when(plan.sla_deadline)})"
                )
            self._entry(
                event,
                SLA_TIMER,
                summary,
                round=current.number,
                region=plan.assigned_region.value,
                data={"checkpoint": checkpoint.kind, "due": checkpoint.at.isoformat()},
            )
            return
        if self.ticket_id is not None:
            summary = f"license re-check interval elapsed (ticket {self.ticket_id} open)"
        else:
            summary = "timer fired"
        self._entry(
            event,
            TIMER,
            summary,
            data={"due": due.isoformat() if due else None, "timer_id": attrs.timer_id},
        )

    # updates -----------------------------------------------------------------------

    def _update_accepted(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_accepted_event_attributes
        request = attrs.accepted_request
        name = request.input.name
        value, raw = self._decode(request.input.args.payloads, _UPDATE_PAYLOADS.get(name))
        actor = getattr(value, "actor", None)
        entry = self._entry(
            event,
            UPDATE,
            f"update {name} accepted",
            actor=actor.email if actor else "unknown",
            role=actor.role.value if actor else None,
            region="/".join(r.value for r in actor.regions) if actor else None,
            data={
                "update": name,
                "update_id": request.meta.update_id,
                "identity": request.meta.identity,
                "request": _jsonable(value if value is not None else raw),
                "decided_at": self.now.isoformat(),
            },
        )
        self.updates[request.meta.update_id] = _PendingUpdate(entry, name, value)

    def _update_completed(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_completed_event_attributes
        pending = self.updates.pop(attrs.meta.update_id, None)
        if pending is None:
            return
        entry = pending.entry
        if attrs.outcome.HasField("failure"):
            reason = attrs.outcome.failure.message
            entry.kind = UPDATE_REFUSED
            entry.summary = (
                f"{pending.name} accepted for processing, then refused by the workflow: "
                f"{reason}; nothing changed"
            )
            entry.data["refused"] = reason
            return
        receipt, raw = self._decode(attrs.outcome.success.payloads, DecisionReceipt)
        entry.data["receipt"] = _jsonable(receipt if receipt is not None else raw)
        if not isinstance(receipt, DecisionReceipt):
            return
        entry.round = receipt.round
        request = pending.request
        if isinstance(request, Decision):
            self._decision(entry, request, receipt)
        elif isinstance(request, RepAction):
            self._rep_action(entry, pending.name, request, receipt)
        else:
            entry.summary = f"update {pending.name}: {receipt.message}"
        self.stage = receipt.stage

    def _decision(self, entry: TimelineEntry, decision: Decision, receipt: DecisionReceipt) -> None:
        comment = f": {decision.comment}" if decision.comment else ""
        number = receipt.round
        decided_at = datetime.fromisoformat(entry.data["decided_at"])
        entry.data |= {
            "stage": decision.stage,
            "action": decision.action,
            "reasons": list(decision.reasons),
            "comment": decision.comment,
        }
        if decision.stage == "finance":
            entry.kind = FINANCE_REVIEW
            if decision.action == "approve":
                entry.summary = f"Billing approved (round {number}){comment}; Closed Won"
            else:
                reasons = f" [{', '.join(decision.reasons)}]" if decision.reasons else ""
                entry.summary = (
                    f"Billing rejected round {number}{reasons}{comment}; back to Order "
                    f"Management as a new round (approval accuracy miss for "
                    f"{self.om_approver or 'Order Management'})"
                )
                entry.data["accuracy_miss_for"] = self.om_approver
                self._begin_round(f"Billing rejected round {number}")
            return
        entry.kind = DECISION
        current = self._round(number)
        verb = "approved" if decision.action == "approve" else "rejected"
        reasons = f" [{', '.join(decision.reasons)}]" if decision.action == "reject" else ""
        entry.summary = f"Order Management {verb} round {number}{reasons}{comment}"
        acknowledged = list(getattr(decision, "acknowledged", []) or [])
        if acknowledged:
            entry.summary += f" (acknowledged {', '.join(acknowledged)})"
            entry.data["acknowledged"] = acknowledged
        overrides = list(getattr(decision, "overrides", []) or [])
        if overrides and decision.action == "approve":
            entry.summary += f" (overrode hard findings {', '.join(overrides)})"
            entry.data["overrides"] = overrides
        if decision.action == "approve":
            self.om_approver = decision.actor.email
        if current is not None and self.region not in decision.actor.regions:
            why = self._cover_reason(current, decided_at)
            entry.summary += f" (taken outside {self.region.value}: {why})"
            entry.data["taken_because"] = why
        if current is not None and isinstance(current.plan, ReviewPlan):
            self.to_measure.append(_Measure(current, decided_at))

    def _cover_reason(self, current: _Round, at: datetime) -> str:
        """Why someone outside the home region could decide (as the workflow judges)."""
        plan = current.plan
        if not isinstance(plan, ReviewPlan):
            return "cover"
        if current.breached:
            return "SLA breached: escalated to every region"
        reason = plan.cover_reason(at)
        if reason:
            return reason
        if plan.assigned_region != plan.home_region:
            return f"handoff to {plan.assigned_region.value} ({plan.handoff_reason})"
        return "cover"

    def _rep_action(
        self, entry: TimelineEntry, name: str, rep: RepAction, receipt: DecisionReceipt
    ) -> None:
        entry.kind = REP_ACTION
        comment = f": {rep.comment}" if rep.comment else ""
        entry.data["comment"] = rep.comment
        if name == "resubmit":
            entry.summary = f"rep resubmitted; new review round {receipt.round}{comment}"
            self._begin_round("resubmitted by the rep")
        elif name == "recall":
            entry.summary = f"rep recalled the submission (round {receipt.round}){comment}"
        else:
            entry.summary = f"rep closed the opportunity as lost / cancelled{comment}"

    def _signaled(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        self._entry(
            event,
            SIGNAL,
            f"signal {attrs.signal_name}",
            actor=attrs.identity or "unknown",
            data={"signal": attrs.signal_name},
        )

    def _ended(self, event: HistoryEvent) -> None:
        status, summary = _END_EVENTS[event.event_type]
        data: dict[str, Any] = {}
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result = self._decode_one(
                event.workflow_execution_completed_event_attributes.result.payloads, None
            )
            if isinstance(result, dict) and result.get("stage"):
                self.stage = str(result["stage"])
            summary += f"; final stage {self.stage}"
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            message = event.workflow_execution_failed_event_attributes.failure.message
            summary += f": {message}"
            data["failure"] = message
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            attrs = event.workflow_execution_terminated_event_attributes
            summary += f" by {attrs.identity or 'unknown'}: {attrs.reason}"
            data |= {"reason": attrs.reason, "identity": attrs.identity}
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            new_run = (
                event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            )
            summary += f" as run {new_run}"
            data["new_run_id"] = new_run
        self.status = status
        self._entry(event, WORKFLOW_END, summary, data=data)

    # ---- closing notes --------------------------------------------------------------

    def _finish(self, events: list[HistoryEvent]) -> None:
        notes = [REFUSALS_NOTE]
        if self.patches:
            notes.append(
                "Recorded with workflow patch(es): " + ", ".join(dict.fromkeys(self.patches)) + "."
            )
        elif self.planned:
            notes.append(
                "Recorded before the review-plan-v1 patch: rounds use the legacy review "
                "clock (no SLA checkpoints, handoff, cover or business-time measurement)."
            )
        notes.append(
            f"Times are in UTC and in {self.tz} (home region {self.region.value}); "
            "activities are dated when their outcome was recorded."
        )
        if len(self.run_ids) > 1:
            notes.append(
                f"The workflow continued as new {len(self.run_ids) - 1} time(s) to keep each "
                f"run's history short; all {len(self.run_ids)} runs are read, oldest first "
                "(event numbers are per run: `run:event`)."
            )
        if self.status == "running":
            last = events[-1]
            notes.append(
                f"The workflow is still running: this timeline ends at event "
                f"{last.event_id} ({_event_time(last).isoformat()})."
            )
        self.notes = notes + self.notes


_END_EVENTS: dict[int, tuple[str, str]] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: ("completed", "workflow completed"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: ("failed", "workflow failed"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: ("terminated", "workflow terminated"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: ("canceled", "workflow canceled"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: ("timed_out", "workflow timed out"),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: (
        "continued_as_new",
        "workflow continued",
    ),
}


def _business(seconds: float) -> str:
    """Business time the way the handbook counts it (hours), seconds when tiny."""
    if seconds < 60:
        return f"{seconds:.1f} business seconds"
    return f"{seconds / 3600:.2f} business hours"


def _event_time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy of a decoded payload, for `TimelineEntry.data`."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value
