"""Every recorded history in tests/histories replays against today's code.

A change to a workflow that would break running workflows fails here before
it ships. A deliberate change goes behind `workflow.patched`, so both the old
histories and new ones replay: histories of earlier versions are kept in
subfolders named after the patch that followed them (e.g.
`before-review-plan/`); `make record-histories` regenerates the top folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.replay.record import recorded_histories
from workflows import ALL_WORKFLOWS

HISTORIES = recorded_histories()


def _workflow_id(history_json: str) -> str:
    events = json.loads(history_json)["events"]
    started = events[0]["workflowExecutionStartedEventAttributes"]
    return started.get("workflowId") or "recorded-" + started["originalExecutionRunId"]


def test_histories_were_recorded():
    assert len(HISTORIES) >= 10, "run `make record-histories`"


@pytest.mark.parametrize("path", HISTORIES, ids=[f"{p.parent.name}/{p.stem}" for p in HISTORIES])
async def test_recorded_history_replays_on_current_code(path: Path):
    text = path.read_text()
    history = WorkflowHistory.from_json(_workflow_id(text), text)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
