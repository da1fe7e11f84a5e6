"""OpportunityApprovalWorkflow continues as new once a run's history is long
(docs/architecture.md, "Continue-as-new").

A small `continue_as_new_after_events` makes a deal that bounces between the
rep and Order Management switch runs every few rounds. A second deal, driven
the same way with no threshold, stays in one run and is the yardstick: the
status, the audit timeline, the KPI rounds and the queue's search attributes
of the two must agree, timestamps aside (the two deals are decided a few
milliseconds apart). A threshold of 1 makes a run continue at every quiet
point, which puts SLA checkpoints, the license re-check and the Billing due
date each in a run of their own.

Round-the-clock calendars keep the SLA checkpoints where each test wants
them, whatever the day and time the tests run.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.errors import Refused
from domain.messages import ApprovalStatus
from domain.models import Opportunity
from domain.queue import parse_review_token
from om.audit import (
    BUSINESS_TIME,
    CHATTER,
    CRM_UPDATE,
    DECISION,
    REP_ACTION,
    REVIEW_ROUND,
    RUN_CONTINUED,
    SLA_TIMER,
    Timeline,
    build_timeline,
    fetch_runs,
)
from om.reporting import project_all, project_history
from om.reporting_store import ReportingStore
from tests.workflow.conftest import (
    BILLING,
    OM,
    REP,
    Harness,
    dev_environment,
    new_payload,
    running_harness,
)
from tests.workflow.test_review_sla import round_the_clock, use_calendars
from workflows import ALL_WORKFLOWS
from workflows.opportunity_approval import OpportunityApprovalWorkflow

ROUNDS = 60
THRESHOLD = 150
# How far past the threshold a run may go. The check runs at quiet points
# only, so a run ends at most one busy stretch after it crossed the line.
# The longest stretch here is a rejection (its workflow task and Update, the
# SLA timer cancelled, the business-time marker, the CRM write and the
# Chatter post with their workflow tasks: 24 events), then the switch itself
# (task completed, patch marker and the search attribute the SDK sets for
# it, continued-as-new: 4).
SLACK = 28
CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


# ---- helpers ------------------------------------------------------------------------


@pytest.fixture
async def unrecorded_harness(
    time_skipping_env: WorkflowEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """The harness, without recording: the 60-round histories are too long to
    keep (the smaller tests below record the same shapes)."""
    async with running_harness(time_skipping_env, request, record=False) as h:
        yield h


# The events a run's history ends with while it waits (its last workflow task
# completed, with the commands that task gave) or once it has completed.
_WAITING = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_TIMER_CANCELED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    }
)


async def waiting(h: Harness, opportunity_id: str) -> bool:
    """Whether the newest run waits (or has completed), with no workflow task
    or activity open.

    The status is only queried then: the time-skipping test server mishandles
    a query that reaches a run while it continues as new (it leaves the query
    unanswered and the old run's history without its last events; the dev
    server answers, within about a second)."""
    handle = h.env.client.get_workflow_handle(f"opportunity-{opportunity_id}")
    events = (await handle.fetch_history()).events
    scheduled = {
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    for e in events:
        if e.HasField("activity_task_completed_event_attributes"):
            scheduled.discard(e.activity_task_completed_event_attributes.scheduled_event_id)
    return not scheduled and events[-1].event_type in _WAITING


async def status_of(h: Harness, opportunity_id: str) -> ApprovalStatus:
    return await h.env.client.get_workflow_handle(f"opportunity-{opportunity_id}").query(
        OpportunityApprovalWorkflow.status
    )


async def reach(
    h: Harness,
    opportunity_id: str,
    check: Callable[[ApprovalStatus], bool],
    seconds: float = 15.0,
) -> ApprovalStatus:
    """Poll until `check` holds and the transition's side effects are done."""
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        if await waiting(h, opportunity_id):
            status = await status_of(h, opportunity_id)
            if check(status) and status.pending_effects == 0:
                return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"{opportunity_id}: condition not met; last {status}")


async def submit(h: Harness, payload: dict[str, Any]) -> Opportunity:
    opportunity = Opportunity.model_validate(payload)
    _, started = await h.approvals.submit(opportunity)
    assert started
    h.started.append(f"opportunity-{opportunity.id}")
    await reach(h, opportunity.id, lambda s: s.stage == "om_review")
    return opportunity


async def bounce(h: Harness, opportunity_id: str, rounds: int) -> None:
    """Reject and resubmit `rounds` times."""
    for n in range(1, rounds + 1):
        await h.approvals.decide(
            opportunity_id, OM, "om", "reject", reasons=["PO_MISSING"], comment=f"no PO ({n})"
        )
        await reach(h, opportunity_id, lambda s, n=n: s.stage == "rejected" and s.round == n)
        await h.approvals.rep_action(opportunity_id, "resubmit", REP, comment=f"PO ({n})")
        await reach(h, opportunity_id, lambda s, n=n: s.stage == "om_review" and s.round == n + 1)


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.02)


def comparable(status: ApprovalStatus) -> str:
    """The status as JSON, with its own id, instants and measured durations
    masked and the run number left out."""
    data = status.model_dump(mode="json", exclude={"run"})
    for record in data["rounds"]:
        assert record["business_seconds_to_decision"] is not None or record["outcome"] is None
        record["business_seconds_to_decision"] = "<measured>"
    text = json.dumps(data, sort_keys=True).replace(status.opportunity_id, "<id>")
    return _INSTANT.sub("<instant>", text)


def shape(timeline: Timeline) -> list[tuple[str, int | None, str]]:
    """(kind, round, actor) of each entry but the switches between runs."""
    return [
        (e.kind, e.round, e.actor)
        for e in timeline.entries
        if e.kind != RUN_CONTINUED and "new_run_id" not in e.data
    ]


async def replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)


def calm(h: Harness) -> None:
    """Open all day, a 12-hour SLA: no checkpoint fires during a test."""
    use_calendars(h, AMER=round_the_clock().model_copy(update={"sla_business_hours": 12}))


# ---- sixty rounds ------------------------------------------------------------------------


async def test_sixty_rounds_continue_as_new_and_read_like_one_run(
    unrecorded_harness, example_payload
):
    h = unrecorded_harness
    calm(h)
    began = time.monotonic()
    h.settings.continue_as_new_after_events = THRESHOLD
    short = await submit(h, new_payload(example_payload, deployment="saas"))
    h.settings.continue_as_new_after_events = None  # the yardstick: one run
    single = await submit(h, new_payload(example_payload, deployment="saas"))
    await asyncio.gather(bounce(h, short.id, ROUNDS), bounce(h, single.id, ROUNDS))
    driven = time.monotonic() - began

    # Each run stays short; the yardstick's one run holds everything.
    client = h.env.client
    runs = await fetch_runs(client, f"opportunity-{short.id}")
    (one,) = await fetch_runs(client, f"opportunity-{single.id}")
    sizes = [len(r.events) for r in runs]
    carried = runs[-1].events[0].workflow_execution_started_event_attributes.input.ByteSize()
    print(
        f"\n{ROUNDS} rounds in {driven:.1f} s; events per run {sizes}; one run "
        f"{len(one.events)}; the last run's input {carried} bytes"
    )
    assert len(runs) >= 10
    assert max(sizes) <= THRESHOLD + SLACK
    assert all(r.events[-1].event_type == CONTINUED for r in runs[:-1])
    assert len(one.events) > 10 * THRESHOLD

    # `om status`: the same answer as a single run's.
    status = await reach(h, short.id, lambda s: True)
    yardstick = await reach(h, single.id, lambda s: True)
    assert (status.run, yardstick.run) == (len(runs), 1)
    assert (status.stage, status.round, len(status.rounds)) == ("om_review", ROUNDS + 1, ROUNDS + 1)
    assert [h.action for h in status.history] == [h.action for h in yardstick.history]
    assert comparable(status) == comparable(yardstick)

    # No side effect twice: the CRM writes and Chatter posts of a single run.
    for opp in (short, single):
        crm = [u for u in h.fakes.crm_updates if u.opportunity_id == opp.id]
        chatter = [p for p in h.fakes.chatter if p.opportunity_id == opp.id]
        assert (len(crm), len(chatter)) == (1 + 2 * ROUNDS, ROUNDS)

    # `om audit`: every round's events, across the runs, as in the single run.
    timeline = build_timeline(runs)
    assert timeline.runs == [r.run_id for r in runs] and timeline.status == "running"
    assert shape(timeline) == shape(build_timeline(one))
    assert len(timeline.of_kind(RUN_CONTINUED)) == len(runs) - 1
    every = set(range(1, ROUNDS + 2))
    assert {e.round for e in timeline.of_kind(REVIEW_ROUND)} == every
    decided = sorted(every - {ROUNDS + 1})
    for kind in (DECISION, BUSINESS_TIME):
        assert [e.round for e in timeline.of_kind(kind)] == decided, kind
    assert [e.round for e in timeline.of_kind(REP_ACTION)] == decided[1:] + [ROUNDS + 1]
    assert len(timeline.of_kind(CRM_UPDATE)) == 1 + 2 * ROUNDS
    assert len(timeline.of_kind(CHATTER)) == ROUNDS
    # One run read alone starts from what its input carries: the same entries.
    for number, run in enumerate(runs, 1):
        alone = build_timeline(run).entries
        assert alone == [e for e in timeline.entries if e.run == number]

    # KPIs: the projection stores each round once, under the newest run.
    with ReportingStore("sqlite://") as store:
        for chain in (runs, [one]):
            for n, run in enumerate(chain):
                project_history(store, run, earlier=chain[:n])
        again = sum(
            project_history(store, run, earlier=runs[:n]).transitions_added
            for n, run in enumerate(runs)
        )
        assert again == 0
        rounds = store.review_rounds()

    def kpi(opportunity_id: str) -> list[tuple[Any, ...]]:
        return [
            (r.round, r.outcome, r.decided_by, r.reasons, r.sla_met, r.breached)
            for r in rounds
            if r.opportunity_id == opportunity_id
        ]

    assert kpi(short.id) == kpi(single.id)
    assert [r[0] for r in kpi(short.id)] == sorted(every)

    # The queue: the newest run carries the search attributes.
    def queue_row(described: Any) -> dict[str, Any]:
        values = {p.key.name: p.value for p in described.typed_search_attributes}
        # What the queue reads (om.approvals), the instants aside.
        row = {
            k: v
            for k, v in values.items()
            if k.startswith("Om") and k not in ("OmPriority", "OmSlaDeadline", "OmReview")
        }
        facts = parse_review_token(values.get("OmReview"))
        row["review"] = (facts.round, facts.findings_hard, facts.findings_judgment)
        return row

    described = await client.get_workflow_handle(f"opportunity-{short.id}").describe()
    assert described.run_id == runs[-1].run_id
    row = queue_row(described)
    assert row["OmStage"] == "om_review" and row["review"][0] == len(every)
    # The memo the queue reads names from is carried to the newest run.
    assert (await described.memo_value("om_row"))["name"] == example_payload["name"]
    assert row == queue_row(await client.get_workflow_handle(f"opportunity-{single.id}").describe())

    assert time.monotonic() - began < 60


# ---- a run at every quiet point ---------------------------------------------------------


async def test_sla_checkpoints_fire_once_each_in_the_runs_that_follow(harness, example_payload):
    """The round is planned in one run; its 50%, 75% and breach checkpoints
    fire in the runs after it, each once, and the breached round is decided
    and booked in yet another run."""
    use_calendars(
        harness, AMER=round_the_clock().model_copy(update={"sla_business_hours": 3 / 3600})
    )
    harness.settings.continue_as_new_after_events = 1
    opp = await submit(harness, new_payload(example_payload, deployment="saas"))
    planned = await reach(harness, opp.id, lambda s: s.run > 1)

    def breach_sent() -> bool:
        keys = [n.idempotency_key for n in harness.fakes.notifications]
        return sum(f"opportunity-{opp.id}-round-1-breach" in k for k in keys) == 3

    await until(breach_sent)
    breached = await reach(harness, opp.id, lambda s: s.breached)

    assert breached.rounds[0].warnings == ["warn_50", "warn_75"]
    assert (breached.sla_deadline, breached.billing_review_due) == (
        planned.sla_deadline,
        planned.billing_review_due,
    )
    keys = [n.idempotency_key for n in harness.fakes.notifications if n.opportunity_id == opp.id]
    assert len(keys) == len(set(keys)) == 2 + 3  # two warnings; manager and two other regions

    receipt = await harness.approvals.decide(opp.id, "om.emea@example.com", "om", "approve")
    assert receipt.stage == "finance_review"
    await reach(harness, opp.id, lambda s: s.rounds[0].sla_met is False)
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    final = await reach(harness, opp.id, lambda s: s.stage == "completed")

    runs = await fetch_runs(harness.env.client, f"opportunity-{opp.id}")
    timeline = build_timeline(runs)
    plan = timeline.of_kind(REVIEW_ROUND)[0]
    fired = {e.data["checkpoint"]: e.run for e in timeline.of_kind(SLA_TIMER)}
    assert set(fired) == {"warn_50", "warn_75", "breach"}
    assert plan.run < fired["warn_50"] < fired["warn_75"] < fired["breach"]
    assert final.run == len(runs) and timeline.status == "completed"
    assert [u.stage for u in harness.fakes.crm_updates if u.opportunity_id == opp.id] == [
        "7-Closing",
        "Closed Won",
    ]
    await replay(runs)


async def test_license_rechecks_continue_without_a_second_ticket(harness, example_payload):
    harness.fakes.deliver_after_checks = 3
    harness.settings.license_recheck_interval = timedelta(seconds=0.1)
    calm(harness)
    harness.settings.continue_as_new_after_events = 1
    opp = await submit(harness, new_payload(example_payload))  # self-managed
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    await reach(harness, opp.id, lambda s: s.stage == "finance_review")
    await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    final = await reach(harness, opp.id, lambda s: s.stage == "completed")

    runs = await fetch_runs(harness.env.client, f"opportunity-{opp.id}")
    assert len(runs) >= 4  # one per re-check, and more
    assert list(harness.fakes.tickets) == [f"opportunity-{opp.id}-1"]
    assert [s.ticket_id for s in harness.fakes.solved] == [final.support_ticket_id]
    assert harness.fakes.license_checks == 4
    closed_won = [u for u in harness.fakes.crm_updates if u.stage == "Closed Won"]
    assert len(closed_won) == 1 and final.close_date == closed_won[0].close_date
    timeline = build_timeline(runs)
    assert len(timeline.of_kind("license_check")) == 4
    await replay(runs)


async def test_billing_due_date_still_holds_after_the_switch(harness, example_payload):
    calm(harness)
    harness.settings.continue_as_new_after_events = 1
    start = (datetime.now(UTC) + timedelta(days=60)).date()
    payload = new_payload(example_payload, deployment="saas")
    payload["quote"] = {
        **payload["quote"],
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=364)).isoformat(),
    }
    opp = await submit(harness, payload)
    await harness.approvals.decide(opp.id, OM, "om", "approve")
    waiting = await reach(harness, opp.id, lambda s: s.stage == "finance_review" and s.run > 2)
    assert waiting.billing_review_due is not None
    with pytest.raises(Refused, match="Billing reviews this opportunity from"):
        await harness.approvals.decide(opp.id, BILLING, "finance", "approve")
    await harness.approvals.rep_action(opp.id, "recall", REP, comment="wrong quote")
    await reach(harness, opp.id, lambda s: s.stage == "recalled")
    await harness.approvals.rep_action(opp.id, "close_lost", REP)
    final = await reach(harness, opp.id, lambda s: s.stage == "closed_lost")
    assert [h.action for h in final.history][-2:] == ["recalled", "closed_lost"]
    assert final.om_approver == OM and final.run > waiting.run
    runs = await fetch_runs(harness.env.client, f"opportunity-{opp.id}")
    await replay(runs)


# ---- on a dev server: Updates around the switch, the queue, the projection ------------------


async def settled(h: Harness, opportunity_id: str) -> ApprovalStatus:
    """The status once a round is open and its side effects are done (the dev
    server answers queries across a switch, if up to a second late)."""
    deadline = time.monotonic() + 30
    while True:
        status = await h.approvals.status(opportunity_id)
        if status.stage == "om_review" and status.pending_effects == 0:
            return status
        assert time.monotonic() < deadline, f"never settled: {status}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def unrecorded_dev_harness(
    dev_address: str, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """The harness on a dev server, without recording (its two dozen runs
    are the shapes the time-skipping tests record already)."""
    async with running_harness(await dev_environment(dev_address), request, record=False) as h:
        yield h


async def test_updates_sent_around_the_switch_are_each_applied_once(
    unrecorded_dev_harness, example_payload, tmp_path
):
    """A real server turns an Update that reaches a run as it continues away
    with a retryable error, and the client sends it again to the new run.
    Decisions and resubmissions follow each other with no pause or a few
    milliseconds, so some reach a run as it switches; each must be applied
    once. Then the queue lists the opportunity once, and the projection
    stores each round once."""
    h = unrecorded_dev_harness
    calm(h)
    h.settings.continue_as_new_after_events = 1  # a switch at every quiet point
    opp = Opportunity.model_validate(new_payload(example_payload, deployment="saas"))
    await h.approvals.submit(opp)
    h.started.append(f"opportunity-{opp.id}")
    await settled(h, opp.id)
    rounds = 12
    pauses = [0.0, 0.005, 0.01, 0.02, 0.04, 0.08]
    for n in range(1, rounds + 1):
        pause = pauses[n % len(pauses)]
        receipt = await h.approvals.decide(
            opp.id, OM, "om", "reject", reasons=["OTHER"], comment="x"
        )
        assert (receipt.round, receipt.stage) == (n, "rejected")
        # The Chatter post is the rejection's last side effect: the switch
        # follows in the workflow task that records it.
        await until(lambda n=n: len(h.fakes.chatter) == n)
        await asyncio.sleep(pause)
        receipt = await h.approvals.rep_action(opp.id, "resubmit", REP)
        assert (receipt.round, receipt.stage) == (n + 1, "om_review")
        # Then the round opens (local activities) and the run switches again.
        await until(lambda n=n: len(h.fakes.crm_updates) == 1 + 2 * n)
        await asyncio.sleep(pause)
    status = await settled(h, opp.id)
    assert (status.stage, status.round, status.pending_effects) == ("om_review", rounds + 1, 0)

    # A query sent as the run switched may be answered by the run that
    # switched (closed with the same state); asked again, the newest run
    # answers, once its first workflow task is done. Only then are the runs
    # fetched: the Replayer never returns on a history without a task.
    newest = await h.approvals.status(opp.id)
    client = h.env.client
    runs = await fetch_runs(client, f"opportunity-{opp.id}")
    timeline = build_timeline(runs)
    print(f"\n{rounds} rounds, {len(runs)} runs, events per run {[len(r.events) for r in runs]}")
    assert newest.run == len(runs) > rounds
    assert [e.round for e in timeline.of_kind(DECISION)] == list(range(1, rounds + 1))
    assert [e.round for e in timeline.of_kind(REP_ACTION)] == list(range(2, rounds + 2))
    crm = h.fakes.crm_updates
    assert {u.opportunity_id for u in crm} == {opp.id}
    assert (len(crm), len(h.fakes.chatter)) == (1 + 2 * rounds, rounds)
    await replay(runs)

    # The queue lists running runs only: the opportunity once.
    queue = [q for q in await h.approvals.list_queue() if q.opportunity_id == opp.id]
    assert [(q.stage, q.queue_region.value) for q in queue] == [("om_review", "AMER")]

    # The projection lists every run; the rounds are stored once.
    query = f"WorkflowId='opportunity-{opp.id}'"
    with ReportingStore(f"sqlite:///{tmp_path / 'reporting.db'}") as store:
        first = await project_all(client, store, query)
        second = await project_all(client, store, query)
        stored = [r.round for r in store.review_rounds()]
    assert first.listed == len(runs) and not first.failed
    assert (second.unchanged, second.projected, second.transitions_added) == (len(runs) - 1, 1, 0)
    assert stored == list(range(1, rounds + 2))
