"""The reporting store is a projection of the recorded workflow histories.

Every history in tests/histories (both workflow versions) is projected into
SQLite in tmp_path, directly and through `project_all` with a stand-in for
the Temporal client's listing; projecting again must add nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import pytest
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from cli.audit import history_workflow_id
from domain.kpi import CsatAnswer, CsatResponse, ReviewRound, kpi_report, quarter_period
from domain.models import Region
from om.reporting import project_all, project_history
from om.reporting_store import (
    ReportingStore,
    RunFacts,
    reporting_url,
    transitions,
)
from om.settings import Settings
from tests.replay.record import recorded_histories

HISTORIES = Path(__file__).parents[1] / "histories"
FILES = recorded_histories("OpportunityApprovalWorkflow")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
TABLES = ("transitions", "rounds", "runs")


@cache
def load(path: Path) -> WorkflowHistory:
    """A recorded history, parsed once per session (protobuf JSON is slow).
    The earlier runs of a workflow that continued as new (`<name>.run<k>`)
    share its workflow id."""
    data = json.loads(path.read_text())
    stem = re.sub(r"\.run\d+$", "", path.stem)
    return WorkflowHistory.from_json(history_workflow_id(data, stem), data)


def named(name: str) -> WorkflowHistory:
    return load(HISTORIES / name)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with ReportingStore(f"sqlite:///{tmp_path / 'reporting.db'}") as opened:
        yield opened


def counts(store: ReportingStore) -> dict[str, int]:
    return {table: store.count(table) for table in TABLES}


def rows(store: ReportingStore, workflow_id: str) -> list[tuple]:
    query = (
        sa.select(
            transitions.c.event_id,
            transitions.c.seq,
            transitions.c.kind,
            transitions.c.actor,
            transitions.c.round,
            transitions.c.summary,
        )
        .where(transitions.c.workflow_id == workflow_id)
        .order_by(transitions.c.event_id, transitions.c.seq)
    )
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def test_projecting_every_recorded_history_twice_adds_nothing_the_second_time(store):
    first = [project_history(store, load(path), now=NOW) for path in FILES]
    after_first = counts(store)
    second = [project_history(store, load(path), now=NOW) for path in FILES]

    assert after_first == counts(store)
    assert after_first["runs"] == len(FILES)
    assert after_first["transitions"] == sum(p.transitions_added for p in first) > len(FILES) * 4
    # A run that continued as new leaves its rounds to the run after it.
    continued = [p for p in first if p.run.status == "continued_as_new"]
    assert continued and not any(p.rounds for p in continued)
    assert after_first["rounds"] == sum(len(p.rounds) for p in first) > len(FILES) - len(continued)
    assert [p.transitions_added for p in second] == [0] * len(FILES)


def test_facts_of_one_event_are_told_apart_by_seq(store):
    history = named("test_auto_reject_on_findings_rejects_at_once_with_codes.json")
    project_history(store, history, now=NOW)
    by_event: dict[int, list[tuple[int, str]]] = {}
    for event_id, seq, kind, *_ in rows(store, history.workflow_id):
        by_event.setdefault(event_id, []).append((seq, kind))
    shared = [facts for facts in by_event.values() if len(facts) > 1]
    assert shared == [[(0, "pre_check"), (1, "decision")]]


def test_a_history_read_mid_update_then_in_full_stores_what_the_full_one_does(tmp_path):
    full = named("test_saas_deal_approved_by_om_and_billing_completes.json")
    accepted = next(
        i
        for i, event in enumerate(full.events)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )
    partial = WorkflowHistory(full.workflow_id, full.events[: accepted + 1])
    with (
        ReportingStore(f"sqlite:///{tmp_path / 'grown.db'}") as grown,
        ReportingStore(f"sqlite:///{tmp_path / 'once.db'}") as once,
    ):
        early = project_history(grown, partial, now=NOW)
        assert early.run.status == "running"
        assert "update" not in [kind for _, _, kind, *_ in rows(grown, full.workflow_id)]
        assert early.rounds[0].outcome is None  # the decision is not settled yet
        project_history(grown, full, now=NOW)
        project_history(once, full, now=NOW)
        assert rows(grown, full.workflow_id) == rows(once, full.workflow_id)
        assert counts(grown) == counts(once)
        (round_1,) = grown.review_rounds()
        assert (round_1.outcome, round_1.finance_outcome) == ("approved", "approved")


def test_rounds_carry_sla_figures_billing_outcome_and_license_delivery(store):
    finance = project_history(
        store, named("test_finance_reject_returns_to_om_as_accuracy_miss.json"), now=NOW
    )
    first, second = finance.rounds
    assert (first.outcome, first.decided_by, first.finance_outcome) == (
        "approved",
        "om.amer@example.com",
        "rejected",
    )
    assert first.sla_met is True and first.business_seconds_to_decision == 0.0
    assert first.clock_start == datetime(2026, 11, 27, 15, tzinfo=UTC)  # after Thanksgiving
    assert first.sla_deadline == datetime(2026, 11, 30, 17, tzinfo=UTC)
    assert (second.round, second.outcome, second.clock_start is not None) == (2, None, True)

    ticket = project_history(
        store,
        named("test_undelivered_license_opens_one_ticket_and_completes_when_delivered.json"),
        now=NOW,
    )
    (won,) = ticket.rounds
    assert (won.deployment, won.license_tickets, won.delivered_automatically) == (
        "self_managed",
        1,
        False,
    )
    assert won.license_delivered_at == datetime(2026, 12, 2, 10, tzinfo=UTC)

    automatic = project_history(
        store, named("test_self_managed_license_delivered_by_automation.json"), now=NOW
    )
    assert automatic.rounds[0].delivered_automatically is True

    auto_reject = project_history(
        store, named("test_auto_reject_on_findings_rejects_at_once_with_codes.json"), now=NOW
    )
    (rejected,) = auto_reject.rounds
    assert (rejected.outcome, rejected.decided_by, rejected.reasons) == (
        "rejected",
        "pre-check",
        ("TAX_EXEMPT_CERTIFICATE_MISSING",),
    )

    breach = project_history(
        store, named("test_warnings_at_50_and_75_percent_then_breach_escalates.json"), now=NOW
    )
    (late,) = breach.rounds
    assert (late.breached, late.sla_met, late.decided_by) == (True, False, "om.emea@example.com")
    assert late.taken_because == "SLA breached: escalated to every region"

    recall = project_history(
        store, named("test_rep_recalls_pending_submission_and_resubmits.json"), now=NOW
    )
    assert [r.outcome for r in recall.rounds] == ["recalled", None]

    legacy = project_history(
        store,
        load(
            HISTORIES
            / "before-review-plan"
            / "test_saas_deal_approved_by_om_and_billing_completes.json"
        ),
        now=NOW,
    )
    (old,) = legacy.rounds
    assert (old.outcome, old.business_seconds_to_decision, old.sla_met) == ("approved", None, None)
    assert old.within_sla is True  # judged against the recorded deadline

    # What is read back equals what was projected, instants in UTC.
    stored = {(r.opportunity_id, r.round): r for r in store.review_rounds()}
    for projected in (finance, ticket, breach, legacy):
        for r in projected.rounds:
            assert stored[(r.opportunity_id, r.round)] == r
    assert all(r.clock_start is None or r.clock_start.tzinfo is UTC for r in stored.values())


def test_rounds_are_read_with_a_days_margin_so_local_quarter_ends_are_not_lost(store):
    # 16:15 PST on 31 December is 00:15 UTC on 1 January: still a Q4 round.
    late = ReviewRound("H", 1, Region.AMER, clock_start=datetime(2027, 1, 1, 0, 15, tzinfo=UTC))
    early = ReviewRound("Q", 1, Region.APAC, clock_start=datetime(2026, 9, 30, 17, tzinfo=UTC))
    run = RunFacts("opportunity-H", "run-1", "H", Region.AMER, "running", "om_review", 10)
    store.record_run(run, [], [late], NOW)
    store.record_run(
        RunFacts("opportunity-Q", "run-1", "Q", Region.APAC, "running", "om_review", 10),
        [],
        [early],
        NOW,
    )
    q4 = quarter_period("2026Q4")
    candidates = store.review_rounds(q4.start, q4.end)
    assert {r.opportunity_id for r in candidates} == {"H", "Q"}
    assert kpi_report(candidates, period=q4).rounds == 2  # Q: 01:00 on 1 October in Manila
    assert store.review_rounds(q4.start, q4.end, Region.EMEA) == []
    assert store.review_rounds(date(2027, 2, 1), None) == []


# ---- the listing -----------------------------------------------------------------------------


@dataclass
class _Execution:
    id: str
    run_id: str


class _Handle:
    def __init__(self, history: WorkflowHistory | Exception) -> None:
        self.history = history

    async def fetch_history(self) -> WorkflowHistory:
        if isinstance(self.history, Exception):
            raise self.history
        return self.history


class FakeClient:
    """What `project_all` uses of a Temporal client: the listing and histories."""

    def __init__(self, histories: list[WorkflowHistory], broken: dict[str, Exception]) -> None:
        self.runs = {(h.workflow_id, h.run_id): h for h in histories}
        self.broken = broken
        self.fetched: list[str] = []
        self.queries: list[str] = []

    async def _list(self) -> AsyncIterator[_Execution]:
        for workflow_id, run_id in [*self.runs, *((w, "r-broken") for w in self.broken)]:
            yield _Execution(workflow_id, run_id)

    def list_workflows(self, query: str) -> AsyncIterator[_Execution]:
        self.queries.append(query)
        return self._list()

    def get_workflow_handle(self, workflow_id: str, run_id: str | None = None) -> _Handle:
        self.fetched.append(workflow_id)
        if workflow_id in self.broken:
            return _Handle(self.broken[workflow_id])
        return _Handle(self.runs[(workflow_id, run_id)])


async def test_project_all_lists_fetches_projects_and_then_skips_closed_runs(store):
    histories = [load(path) for path in FILES if path.parent == HISTORIES]
    client = FakeClient(histories, {"opportunity-broken": RuntimeError("history is gone")})

    first = await project_all(client, store)  # type: ignore[arg-type]
    assert client.queries == ["WorkflowType='OpportunityApprovalWorkflow'"]
    assert (first.listed, first.projected, first.unchanged) == (
        len(histories) + 1,
        len(histories),
        0,
    )
    assert first.failed == {"opportunity-broken (run r-broken)": "RuntimeError: history is gone"}
    assert first.transitions_added == store.count("transitions") > 0

    closed = sum(1 for h in histories if project_history(store, h, now=NOW).run.status != "running")
    client.fetched.clear()
    second = await project_all(client, store)  # type: ignore[arg-type]
    assert (second.unchanged, second.projected, second.transitions_added) == (
        closed,
        len(histories) - closed,
        0,
    )
    assert len(client.fetched) == len(histories) - closed + 1  # running runs and the broken one
    assert counts(store)["runs"] == len(histories)


# ---- CSAT and settings --------------------------------------------------------------------------


def test_csat_file_imported_twice_is_stored_once(store):
    survey = [
        CsatResponse(Region.AMER, "2026Q4", CsatAnswer.GOOD),
        CsatResponse(Region.AMER, "2026Q4", CsatAnswer.GOOD),  # a second, identical answer
        CsatResponse(Region.APAC, "FY2027Q4", CsatAnswer.VERY_POOR),
    ]
    assert store.add_csat(survey, "sha-of-file", NOW) == 3
    assert store.add_csat(survey, "sha-of-file", NOW) == 0
    assert store.csat() == survey
    assert store.add_csat(survey[:1], "sha-of-another-file", NOW) == 1
    assert store.count("csat_responses") == 4


def test_store_url_defaults_to_sqlite_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("OM_REPORTING_URL", raising=False)
    settings = Settings(home=tmp_path / "state")
    assert (
        reporting_url(settings) == f"sqlite:///{(tmp_path / 'state' / 'reporting.db').as_posix()}"
    )
    with ReportingStore.from_settings(settings) as created:
        assert created.count("runs") == 0
    assert (tmp_path / "state" / "reporting.db").exists()
    monkeypatch.setenv("OM_REPORTING_URL", "postgresql+psycopg://om@db/om")
    configured = Settings(home=tmp_path / "state")
    assert reporting_url(configured) == "postgresql+psycopg://om@db/om"


def test_in_memory_store_is_one_database_across_threads():
    with ReportingStore("sqlite://") as memory, ThreadPoolExecutor(1) as other:
        project_history(memory, named("test_saas_deal_approved_by_om_and_billing_completes.json"))
        assert other.submit(memory.count, "runs").result() == 1


def test_an_overridden_approval_is_stored_with_its_codes_and_counted(store):
    history = named("test_hard_findings_need_an_override_by_code_with_a_comment.json")
    project_history(store, history, now=NOW)
    (round_,) = store.review_rounds()
    codes = ("ORDER_FORM_MISSING", "TAX_EXEMPT_CERTIFICATE_MISSING")
    assert (round_.outcome, round_.overrides) == ("approved", codes)
    report = kpi_report(store.review_rounds()).overrides
    assert (report.approvals, report.by_specialist) == (1, {"om.amer@example.com": 1})
    assert [(c.code, c.count) for c in report.by_code] == [(code, 1) for code in codes]
    assert (report.billing_rejected, report.awaiting_billing) == (0, 1)


def test_a_store_made_before_a_column_existed_gains_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with ReportingStore(url) as opened, opened.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE rounds DROP COLUMN overrides"))
    with ReportingStore(url) as reopened:
        project_history(
            reopened,
            named("test_hard_findings_need_an_override_by_code_with_a_comment.json"),
            now=NOW,
        )
        assert [r.overrides for r in reopened.review_rounds()][0]
