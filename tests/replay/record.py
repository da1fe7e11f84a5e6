"""Recording workflow histories for the replay tests (`make record-histories`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from temporalio.client import Client

from om.audit import fetch_runs

HISTORIES = Path(__file__).parents[1] / "histories"


async def record_histories(client: Client, workflow_ids: list[str], test_name: str) -> None:
    """Write the event history of each workflow a test started to
    tests/histories/<test name>[-n].json, for the replay test to check
    against every later version of the workflow code. A workflow that
    continued as new has its earlier runs written beside it, as
    <test name>[-n].run<k>.json (k = 1 for the first run)."""
    HISTORIES.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")
    for n, workflow_id in enumerate(workflow_ids):
        *earlier, history = await fetch_runs(client, workflow_id)
        suffix = f"-{n}" if n else ""
        for k, run in enumerate(earlier, 1):
            (HISTORIES / f"{stem}{suffix}.run{k}.json").write_text(run.to_json())
        (HISTORIES / f"{stem}{suffix}.json").write_text(history.to_json())


async def record_if_asked(client: Client, workflow_ids: list[str], test_name: str) -> None:
    """Record when `OM_RECORD_HISTORIES` is set (`make record-histories`)."""
    if os.environ.get("OM_RECORD_HISTORIES"):
        await record_histories(client, workflow_ids, test_name)


def recorded_histories(workflow_type: str | None = None) -> list[Path]:
    """Every recorded history file (older versions' subfolders included),
    optionally only those of one workflow type."""
    paths = sorted(HISTORIES.rglob("*.json"))
    if workflow_type is None:
        return paths
    return [p for p in paths if _workflow_type(p) == workflow_type]


def _workflow_type(path: Path) -> str:
    first = json.loads(path.read_text())["events"][0]
    return first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
