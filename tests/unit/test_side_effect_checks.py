"""The chaos suite's exactly-once checks can fail: the sandbox's field
history records only real changes, and `side_effect_problems` reports a
missing or doubled CRM write, Chatter post or ticket."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from domain.errors import Busy
from domain.messages import ApprovalStatus
from loadtest.cycle import Case, make_cases, side_effect_problems
from om.approvals import Approvals
from om.settings import Settings
from sandbox.store import Store


def test_field_history_keeps_changes_only_grouped_by_write(tmp_path: Path):
    store = Store(tmp_path / "sandbox.db")
    store.insert("Opportunity", {"Id": "006X", "StageName": "6-Awaiting Signature"})
    submitted = {"StageName": "7-Closing", "Approval_Status__c": "In Progress"}
    store.update("Opportunity", "006X", submitted)
    store.update("Opportunity", "006X", submitted)  # a retried write: no change, no row
    store.update("Opportunity", "006X", {"StageName": "Closed Won", "Name": "untracked"})
    rows = store.field_history("006X")
    assert [(r["field"], r["old_value"], r["new_value"]) for r in rows] == [
        ("StageName", "6-Awaiting Signature", "7-Closing"),
        ("Approval_Status__c", None, "In Progress"),
        ("StageName", "7-Closing", "Closed Won"),
    ]
    assert rows[0]["write"] == rows[1]["write"] != rows[2]["write"]
    store.close()


def _history(*writes: tuple[str, str]) -> list[dict[str, Any]]:
    rows = []
    for number, (stage, status) in enumerate(writes, start=1):
        rows.append({"write": number, "field": "StageName", "new_value": stage})
        rows.append({"write": number, "field": "Approval_Status__c", "new_value": status})
    return rows


class FakeAdmin:
    def __init__(self, views: dict[str, dict[str, Any]]) -> None:
        self.views = views

    def opportunity(self, opportunity_id: str) -> dict[str, Any]:
        return self.views[opportunity_id]


def _view_for(case: Case) -> dict[str, Any]:
    writes = case.expected_crm_changes()
    return {
        "field_history": _history(*writes),
        "chatter": [{"Body": "x"}] * case.expected_chatter_posts(),
        "tickets": [{"id": 1}] * case.expected_tickets(),
        "license": {"delivered_at": "2026-11-26T00:00:00Z"},
        "License_Delivery_Date__c": "2026-11-26",
    }


@pytest.fixture
def cases(example_payload: dict[str, Any]) -> list[Case]:
    made = make_cases(2, example_payload)
    made[1].accepted = [("om", "reject"), ("om", "approve"), ("finance", "approve")]
    for case in made:
        case.final_stage = "completed"
    return made


def test_a_clean_run_has_no_problems(cases: list[Case]):
    assert cases[0].delivered and not cases[1].delivered
    assert cases[1].expected_crm_changes() == [
        ("7-Closing", "In Progress"),
        ("6-Awaiting Signature", "Rejected"),
        ("7-Closing", "In Progress"),
        ("Closed Won", "Approved"),
    ]
    admin = FakeAdmin({case.id: _view_for(case) for case in cases})
    assert side_effect_problems(admin, cases) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda v: v["chatter"].append({"Body": "again"}), "2 Chatter posts, expected 1"),
        (lambda v: v["tickets"].append({"id": 2}), "2 tickets, expected 1"),
        (lambda v: v["field_history"].__delitem__(slice(-2, None)), "CRM changes"),
        (lambda v: v.__setitem__("License_Delivery_Date__c", None), "no License_Delivery"),
    ],
)
def test_a_doubled_or_missing_effect_is_reported(cases: list[Case], damage, expected: str):
    views = {case.id: copy.deepcopy(_view_for(case)) for case in cases}
    damage(views[cases[1].id])
    problems = side_effect_problems(FakeAdmin(views), cases)  # type: ignore[arg-type]
    assert len(problems) == 1 and expected in problems[0] and cases[1].id in problems[0]


class CappedHandle:
    """A workflow handle whose server refuses Updates over its in-flight cap."""

    async def query(self, *args: Any, **kwargs: Any) -> ApprovalStatus:
        """The status the API reads first (may this caller read the deal?)."""
        return ApprovalStatus(opportunity_id="006X", stage="om_review", round=1, region="AMER")

    async def execute_update(self, *args: Any, **kwargs: Any) -> None:
        raise RPCError(
            "limit on number of concurrent in-flight updates has been reached",
            RPCStatusCode.RESOURCE_EXHAUSTED,
            b"",
        )


class CappedClient:
    def get_workflow_handle(self, workflow_id: str) -> CappedHandle:
        return CappedHandle()


async def test_the_servers_in_flight_update_cap_is_busy_not_a_crash():
    approvals = Approvals(CappedClient(), None)  # type: ignore[arg-type]
    with pytest.raises(Busy, match="busy: too many decisions on 006X"):
        await approvals._update("006X", None, None)


def test_the_api_answers_busy_with_429_and_retry_after():
    app = create_app(Settings(api_metrics=False), CappedClient())  # type: ignore[arg-type]
    response = TestClient(app).post(
        "/opportunities/006X/decisions",
        json={"stage": "om", "action": "approve"},
        headers={"Authorization": "Bearer demo-om-amer"},
    )
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "1"
    assert "nothing changed" in response.json()["detail"]


async def test_retrying_stops_when_its_own_task_is_cancelled():
    """A cancelled Update call surfaces as WorkflowUpdateRPCTimeoutOrCancelledError;
    `retrying` must not take that for a server hiccup and go on for minutes."""
    from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

    from loadtest.cycle import retrying

    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise WorkflowUpdateRPCTimeoutOrCancelledError() from None

    task = asyncio.create_task(retrying(call, give_up_after=300))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises((asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError)):
        await asyncio.wait_for(task, 5)
    assert calls == 1
