"""A history the chaos suite produced before the fix, which does not replay
(docs/architecture.md, "Decisions while a round opens"): the OM decision was
accepted while the round-opening local activities were running, and recorded
between their markers.

The workflow now refuses Updates while a policy local activity runs
(`_refuse_while_recording`), so no new history takes this shape
(tests/workflow/test_decision_while_round_opens.py). This old one still
cannot replay: the SDK places an accepted Update at the start of its
workflow task. Strict xfail keeps that fact on record: should an SDK
upgrade make it replay, this test fails as XPASS and the history joins the
replay suite. It is kept out of tests/histories, which must all replay.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import ALL_WORKFLOWS

HISTORY = (
    Path(__file__).parents[1] / "fixtures" / "known-bugs" / "update-accepted-while-round-opens.json"
)


@pytest.mark.xfail(
    strict=True,
    reason="recorded before the fix: Update accepted between local-activity markers",
)
async def test_update_accepted_while_the_round_opens_replays():
    history = WorkflowHistory.from_json("opportunity-006C7A8D50000066", HISTORY.read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
