"""The projector: approval workflow histories into the reporting store.

Why a projection and not a workflow change: recorded histories must keep
replaying, so the workflow stays as it is and reporting reads what it already
writes down. Each history is read with the audit timeline
(`om.audit.build_timeline`), the same reading `om audit` shows, so the
KPIs and the audit trail cannot disagree about what happened. From the
timeline come:

* the transitions, appended to the store by (workflow_id, run_id, event_id,
  seq); facts that may still change are left for a later pass: an Update
  accepted but not yet completed, an activity still pending;
* the review rounds with their SLA figures (clock start and deadline from
  the recorded plan, the decision, the recorded business time and verdict),
  Billing's outcome, and for the round that went to Closed Won the license
  delivery (delivered at, Support tickets opened).

`project_all` lists the approval workflows, running and closed, and projects
each run whose history may have grown (a run already projected after it
closed is not fetched again). Running it twice appends nothing twice.

A workflow that continued as new has several runs. Each run's transitions
are stored under its own run id (event ids restart in every run), while the
review rounds are read from the whole chain, oldest run first, and stored
once, under the newest run: a round opened in one run may be decided in the
next, and counting it per run would count it twice. A run that continued as
new therefore keeps no rounds of its own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowHistory

from domain.kpi import APPROVED, RECALLED, REJECTED, ReviewRound
from domain.models import Region
from domain.names import APPROVAL_WORKFLOWS_QUERY
from om.audit import (
    BUSINESS_TIME,
    DECISION,
    FINANCE_REVIEW,
    LICENSE_CHECK,
    NOTIFICATION,
    REP_ACTION,
    REVIEW_ROUND,
    SLA_TIMER,
    SUBMITTED,
    TICKET,
    UPDATE,
    Timeline,
    TimelineEntry,
    build_timeline,
    fetch_runs,
)
from om.reporting_store import ReportingStore, RunFacts, Transition
from om.settings import Settings

_BREACH_KEY = re.compile(r"-round-(\d+)-breach")


class ProjectionReport(BaseModel):
    """What one projection pass did."""

    listed: int = Field(default=0, description="Approval workflow runs the query listed")
    projected: int = Field(default=0, description="Runs whose history was read")
    unchanged: int = Field(default=0, description="Closed runs already projected: not fetched")
    transitions_added: int = 0
    rounds: int = Field(default=0, description="Review rounds of the runs projected")
    failed: dict[str, str] = Field(
        default_factory=dict, description="Run -> why its history could not be projected"
    )


@dataclass
class RunProjection:
    """One history projected: its run, its new transitions and its rounds."""

    run: RunFacts
    transitions_added: int
    rounds: list[ReviewRound] = field(default_factory=list)


# ---- one history -------------------------------------------------------------------


def project_history(
    store: ReportingStore,
    history: WorkflowHistory,
    run_id: str | None = None,
    now: datetime | None = None,
    earlier: Sequence[WorkflowHistory] = (),
) -> RunProjection:
    """Project one approval workflow history into `store`; idempotent.

    `run_id` is the run as Temporal lists it; the history alone names the run
    it was first started as, which a reset run shares with its original.
    `earlier`: the histories of the runs this one continues, oldest first
    (`om.audit.fetch_runs`); the rounds are read across all of them.
    Raises om.audit.AuditError when the history is not an approval's.
    """
    timeline = build_timeline([*earlier, history])
    this_run = len(history.events)
    mine = timeline.entries
    if earlier:
        number = timeline.entries[-1].run if timeline.entries else 1
        mine = [e for e in timeline.entries if e.run == number]
    run = RunFacts(
        workflow_id=timeline.workflow_id,
        run_id=run_id or timeline.run_id,
        opportunity_id=timeline.opportunity_id,
        region=timeline.region,
        status=timeline.status,
        stage=timeline.stage,
        event_count=this_run,
    )
    # The newest run of a chain holds the rounds of all; one that continued
    # as new holds none (its successor has them).
    review_rounds = [] if timeline.status == "continued_as_new" else rounds_from_timeline(timeline)
    added = store.record_run(
        run,
        transitions_from_timeline(timeline.model_copy(update={"entries": mine})),
        review_rounds,
        now or datetime.now(UTC),
    )
    return RunProjection(run, added, review_rounds)


def _final(entry: TimelineEntry) -> bool:
    """False for a fact a longer history will restate differently."""
    if entry.kind == UPDATE and "receipt" not in entry.data and "refused" not in entry.data:
        return False  # accepted, outcome not recorded yet: becomes a decision or refusal
    return entry.data.get("outcome") != "pending"  # an activity still running


def transitions_from_timeline(timeline: Timeline) -> list[Transition]:
    """The timeline's settled facts as store rows; `seq` numbers the facts of
    one history event (0 for all but the automatic rejection)."""
    facts: list[Transition] = []
    seen: dict[int, int] = {}
    for entry in timeline.entries:
        seq = seen.get(entry.event_id, 0)
        seen[entry.event_id] = seq + 1
        if not _final(entry):
            continue
        facts.append(
            Transition(
                event_id=entry.event_id,
                seq=seq,
                at=entry.at_utc,
                kind=entry.kind,
                actor=entry.actor,
                round=entry.round,
                role=entry.role,
                actor_region=entry.region,
                summary=entry.summary,
                data=entry.data,
            )
        )
    return facts


def _instant(value: Any, fallback: datetime | None = None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else fallback


def rounds_from_timeline(timeline: Timeline) -> list[ReviewRound]:
    """The review rounds the timeline shows, each with its SLA figures, Billing's
    outcome and, on the round Billing approved, the license delivery."""
    rounds: dict[int, dict[str, Any]] = {}
    deployment: str | None = None
    delivered_at: datetime | None = None
    tickets = 0

    def of(number: int | None) -> dict[str, Any] | None:
        if number is None or number < 1:
            return None
        return rounds.setdefault(number, {"round": number})

    for entry in timeline.entries:
        if not _final(entry):
            continue
        data = entry.data
        current = of(entry.round)
        if entry.kind == SUBMITTED:
            deployment = data.get("deployment")
        elif entry.kind == REVIEW_ROUND and current is not None:
            assigned = data.get("assigned_region")
            current |= {
                "clock_start": _instant(data.get("clock_start")),
                "sla_deadline": _instant(data.get("sla_deadline")),
                "assigned_region": Region(assigned) if assigned else None,
            }
        elif entry.kind == SLA_TIMER and current is not None:
            if data.get("checkpoint") == "breach":
                current["breached"] = True
        elif entry.kind == NOTIFICATION:
            # A round planned after its deadline is escalated without a timer.
            key = (data.get("input") or {}).get("idempotency_key", "")
            found = _BREACH_KEY.search(key) if isinstance(key, str) else None
            breached = of(int(found.group(1))) if found else None
            if breached is not None:
                breached["breached"] = True
        elif entry.kind == DECISION and current is not None:
            current |= {
                "outcome": APPROVED if data.get("action") == "approve" else REJECTED,
                "decided_at": _instant(data.get("decided_at"), entry.at_utc),
                "decided_by": entry.actor,
                "reasons": tuple(data.get("reasons") or ()),
                "taken_because": data.get("taken_because"),
                "overrides": tuple(data.get("overrides") or ()),
            }
        elif entry.kind == BUSINESS_TIME and current is not None:
            current |= {
                "business_seconds_to_decision": data.get("business_seconds"),
                "sla_met": data.get("sla_met"),
                "decided_at": _instant(data.get("decided_at"), current.get("decided_at")),
            }
        elif entry.kind == FINANCE_REVIEW and current is not None:
            current |= {
                "finance_outcome": APPROVED if data.get("action") == "approve" else REJECTED,
                "finance_decided_at": _instant(data.get("decided_at"), entry.at_utc),
                "finance_decided_by": entry.actor,
                "finance_reasons": tuple(data.get("reasons") or ()),
            }
        elif entry.kind == REP_ACTION and data.get("update") == "recall" and current is not None:
            if current.get("outcome") is None:
                current["outcome"] = RECALLED
            elif current.get("outcome") == APPROVED and current.get("finance_outcome") is None:
                current["finance_outcome"] = RECALLED  # taken back while Billing reviewed
        elif entry.kind == LICENSE_CHECK and delivered_at is None:
            result = data.get("result") or {}
            if isinstance(result, dict) and result.get("delivered"):
                delivered_at = _instant(result.get("delivered_at"), entry.at_utc)
        elif entry.kind == TICKET and data.get("ticket_id") is not None:
            tickets += 1

    review_rounds = []
    for number in sorted(rounds):
        values = rounds[number]
        if values.get("finance_outcome") == APPROVED:
            values |= {"license_delivered_at": delivered_at, "license_tickets": tickets}
        review_rounds.append(
            ReviewRound(
                opportunity_id=timeline.opportunity_id,
                home_region=timeline.region,
                deployment=deployment,
                **values,
            )
        )
    return review_rounds


# ---- every approval workflow ---------------------------------------------------------


async def project_all(
    client: Client, store: ReportingStore, query: str = APPROVAL_WORKFLOWS_QUERY
) -> ProjectionReport:
    """Project every approval workflow run the visibility `query` lists.

    Runs already projected after they closed are skipped (their history can
    no longer grow). A run that continues earlier ones is read with them
    (their histories are fetched once per pass). One history that cannot be
    fetched or read does not stop the others: it is named in `failed`. Store
    work runs in a thread, so an async worker calling this keeps serving
    while the database writes.
    """
    report = ProjectionReport()
    closed = await asyncio.to_thread(store.closed_runs)
    fetched: dict[str, WorkflowHistory] = {}
    async for execution in client.list_workflows(query):
        report.listed += 1
        run_id = execution.run_id or ""
        if (execution.id, run_id) in closed:
            report.unchanged += 1
            continue
        try:
            *earlier, history = await fetch_runs(client, execution.id, run_id or None, fetched)
            projected = await asyncio.to_thread(
                project_history, store, history, run_id or None, None, earlier
            )
        except Exception as error:  # reported per run, so one bad history stops nothing
            report.failed[f"{execution.id} (run {run_id})"] = f"{type(error).__name__}: {error}"
            continue
        report.projected += 1
        report.transitions_added += projected.transitions_added
        report.rounds += len(projected.rounds)
    return report


async def run_projection(client: Client, settings: Settings) -> ProjectionReport:
    """One pass of the projection into the store `settings` names (what the
    `om-reporting-projection` Schedule runs)."""
    store = ReportingStore.from_settings(settings)
    return await project_all(client, store)
