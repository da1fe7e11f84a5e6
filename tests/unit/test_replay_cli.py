"""`om replay`: recorded histories replay on today's code; a change that
would break running workflows makes it fail with the nondeterminism error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from temporalio import workflow
from typer.testing import CliRunner

import workflows
from cli.audit import register
from cli.replay import ReplayAborted, ReplaySource, replay_in_processes
from domain.messages import ActivityName, ApprovalInput, ApprovalStatus, CrmUpdate
from loadtest.ports import free_port
from workflows.opportunity_approval import _RETRY, _TIMEOUT, OpportunityApprovalWorkflow

HISTORIES = Path(__file__).parents[1] / "histories"
APPROVED = HISTORIES / "test_saas_deal_approved_by_om_and_billing_completes.json"
KNOWN_BUGS = Path(__file__).parents[1] / "fixtures" / "known-bugs"


@pytest.fixture
def om() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def run(app: typer.Typer, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_every_recorded_history_replays(om: typer.Typer):
    count = len(list(HISTORIES.rglob("*.json")))

    result = run(om, "replay", str(HISTORIES))

    assert result.exit_code == 0, result.output
    assert f"replayed {count} histories: {count} ok, 0 failed" in result.stdout
    assert result.stdout.count("ok    ") == count
    assert "before-review-plan" in result.stdout  # directories are read recursively


def test_history_altered_to_disagree_with_the_code_fails_with_the_error(
    om: typer.Typer, tmp_path: Path
):
    data = json.loads(APPROVED.read_text())
    scheduled = next(e for e in data["events"] if "activityTaskScheduledEventAttributes" in e)
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "crm.legacy_write"
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(data))

    result = run(om, "replay", str(altered), str(APPROVED))

    assert result.exit_code == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert str(altered) in line and "NondeterminismError" in line
    assert "'crm.legacy_write' does not match" in line
    assert f"ok    {APPROVED}" in result.stdout
    assert "replayed 2 histories: 1 ok, 1 failed" in result.stdout
    assert "Traceback" not in result.output


def test_history_with_a_dropped_event_fails(om: typer.Typer, tmp_path: Path):
    data = json.loads(APPROVED.read_text())
    data["events"] = [
        e
        for e in data["events"]
        if "core_local_activity" not in json.dumps(e.get("markerRecordedEventAttributes", {}))
    ]
    dropped = tmp_path / "dropped.json"
    dropped.write_text(json.dumps(data))

    result = run(om, "replay", str(dropped), "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["replayed"], report["failed"]) == (1, 1)
    assert report["results"][0]["error"]


@workflow.defn(name="OpportunityApprovalWorkflow", sandboxed=False)
class CrmWriteRenamed(OpportunityApprovalWorkflow):
    """Today's workflow with one careless change: the CRM write activity renamed
    without `workflow.patched`. Running workflows could not continue on it."""

    @workflow.run
    async def run(self, inp: ApprovalInput) -> ApprovalStatus:
        return await super().run(inp)

    async def _crm(self, **fields: Any) -> None:
        await workflow.execute_activity(
            f"{ActivityName.UPDATE_OPPORTUNITY}_v2",
            CrmUpdate(opportunity_id=self._opp.id, **fields),
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_RETRY,
        )


def test_changed_workflow_code_fails_on_recorded_histories(
    om: typer.Typer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(workflows, "ALL_WORKFLOWS", [CrmWriteRenamed])

    result = run(om, "replay", str(APPROVED))

    assert result.exit_code == 1
    assert "Nondeterminism" in result.stdout
    assert "update_opportunity_v2" in result.stdout
    assert "replayed 1 history: 0 ok, 1 failed" in result.stdout


def test_json_files_that_are_not_histories_are_skipped_in_directories(
    om: typer.Typer, tmp_path: Path
):
    (tmp_path / "history.json").write_text(APPROVED.read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({"files": []}))

    result = run(om, "replay", str(tmp_path))

    assert result.exit_code == 0, result.output
    assert "replayed 1 history: 1 ok, 0 failed (1 JSON files that are not histories skipped)" in (
        result.stdout
    )


def test_unreadable_file_named_on_the_command_line_fails_in_one_line(
    om: typer.Typer, tmp_path: Path
):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")

    result = run(om, "replay", str(broken))

    assert result.exit_code == 1
    assert f"FAIL  {broken}: not JSON" in result.stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give history files or directories, or --query"),
        (("/nonexistent/histories",), "no such file or directory: /nonexistent/histories"),
        (("--jobs", "0", str(APPROVED)), "--jobs: must be 1 or more, got 0"),
    ],
)
def test_bad_arguments_are_one_clear_line(om: typer.Typer, args: tuple[str, ...], message: str):
    result = run(om, "replay", *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_folder_with_broken_histories_reports_a_line_per_history_in_input_order(
    om: typer.Typer, tmp_path: Path, jobs: str
):
    for n, path in enumerate(sorted(HISTORIES.glob("*.json"))[:6]):
        (tmp_path / f"{n:02d}-{path.name}").write_text(path.read_text())
    # Named to sort among the recorded ones: their lines must come in between.
    known_bug = tmp_path / "02-known-bug.json"
    known_bug.write_text((KNOWN_BUGS / "update-accepted-while-round-opens.json").read_text())
    retired = json.loads(APPROVED.read_text())
    started = retired["events"][0]["workflowExecutionStartedEventAttributes"]
    started["workflowType"]["name"] = "RetiredWorkflow"
    unknown_type = tmp_path / "04-unknown-type.json"
    unknown_type.write_text(json.dumps(retired))
    failures = {
        known_bug: "NondeterminismError: ",
        unknown_type: "RuntimeError: Workflow class RetiredWorkflow is not registered",
    }
    expected = [
        f"FAIL  {path}: {failures[path]}" if path in failures else f"ok    {path}"
        for path in sorted(tmp_path.glob("*.json"))
    ]

    result = run(om, "replay", str(tmp_path), "--jobs", jobs)

    assert result.exit_code == 1
    *lines, summary = result.stdout.splitlines()
    assert [line[: len(start)] for line, start in zip(lines, expected, strict=True)] == expected
    assert summary == "replayed 8 histories: 6 ok, 2 failed"
    assert "Traceback" not in result.output + result.stderr


def test_replay_process_that_cannot_reach_temporal_ends_the_replay_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    address = f"127.0.0.1:{free_port()}"  # closed once free_port returns
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)  # read by the spawned processes
    monkeypatch.setenv("OM_HOME", str(tmp_path))
    live = ReplaySource("opportunity-006X (run r1)", workflow_id="opportunity-006X", run_id="r1")
    recorded = ReplaySource(str(APPROVED), path=APPROVED)

    with pytest.raises(ReplayAborted) as aborted:
        replay_in_processes([recorded, live], 2, lambda position, outcome: None)

    assert str(aborted.value) == (
        f"cannot reach Temporal at {address} (connection refused): "
        "is `make run` (or `om dev`) running? Set TEMPORAL_ADDRESS to point elsewhere"
    )
