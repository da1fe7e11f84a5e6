"""`om audit`, `om history export` and `om replay --query` against a live run.

The opportunity goes through the real parts (dev server, sandbox, `om worker`)
with the `om` binary; the audit commands run in-process from `register`, so
this test does not depend on how cli/main.py mounts them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cli.audit import register
from tests.cli_runner import in_process_cli
from tests.integration import test_om_end_to_end as e2e

# The end-to-end module's fixtures, shared by name (module-scoped: a dev server
# and worker of this module's own).
temporal_address = e2e.temporal_address
om_env = e2e.om_env
worker = e2e.worker
new_opportunity = e2e.new_opportunity
om, wait_for_stage = e2e.om, e2e.wait_for_stage

OM = "om.amer@example.com"
REP = "riley.rep@example.com"
BILLING = "billing@example.com"


@pytest.fixture
def audit_cli(om_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Invoke the audit commands in-process with the environment `om` gets."""
    return in_process_cli(register, om_env)


# Submitted with no threshold (one run), or with a threshold of one event:
# the workflow continues as new at every quiet point, and the audit reads
# every run (docs/architecture.md, "Continue-as-new").
@pytest.mark.parametrize("continue_after", [None, "1"], ids=["one-run", "continued"])
def test_audit_evidence_pack_history_export_and_replay_of_a_live_run(
    om_env,
    worker,
    new_opportunity,
    audit_cli,
    tmp_path: Path,
    continue_after: str | None,
):
    opp = new_opportunity
    submit_env = dict(om_env)
    if continue_after:
        submit_env["OM_CONTINUE_AS_NEW_AFTER_EVENTS"] = continue_after
    om(submit_env, "submit", opp)
    wait_for_stage(om_env, opp, "om_review")
    refused = om(om_env, "approve", opp, "--as", "om.emea@example.com", ok=False)
    assert refused.returncode != 0
    om(om_env, "reject", opp, "--as", OM, "--reason", "PO_MISSING", "--comment", "Attach the PO")
    wait_for_stage(om_env, opp, "rejected")
    om(om_env, "resubmit", opp, "--as", REP, "--comment", "PO attached")
    wait_for_stage(om_env, opp, "om_review")
    om(om_env, "approve", opp, "--as", OM, "--comment", "PO attached")
    om(om_env, "finance", "approve", opp, "--as", BILLING)
    status = wait_for_stage(om_env, opp, "license_ticket")
    om(om_env, "sandbox", "deliver-license", opp)
    status = wait_for_stage(om_env, opp, "completed")

    evidence = tmp_path / "evidence"
    result = audit_cli("audit", opp, "--json", "--evidence", str(evidence))
    assert result.exit_code == 0, result.output
    timeline = json.loads(result.stdout)
    assert f"evidence pack written to {evidence.resolve()}" in result.stderr

    assert timeline["workflow_id"] == f"opportunity-{opp}" and timeline["status"] == "completed"
    runs = len(timeline["runs"])
    assert (runs > 1) == bool(continue_after)
    by_kind: dict[str, list[dict]] = {}
    for entry in timeline["entries"]:
        by_kind.setdefault(entry["kind"], []).append(entry)
    assert [(d["actor"], d["data"]["action"], d["round"]) for d in by_kind["decision"]] == [
        (OM, "reject", 1),
        (OM, "approve", 2),
    ]
    assert by_kind["decision"][0]["data"]["comment"] == "Attach the PO"
    assert [(r["actor"], r["round"]) for r in by_kind["rep_action"]] == [(REP, 2)]
    assert by_kind["finance_review"][0]["actor"] == BILLING
    assert [r["round"] for r in by_kind["review_round"]] == [1, 2]
    assert by_kind["close_date"][0]["data"]["close_date"] == status["close_date"]
    assert by_kind["ticket"][0]["data"]["ticket_id"] == status["support_ticket_id"]
    # The refused approval is not in history; the timeline says refusals never are.
    assert "om.emea@example.com" not in json.dumps(timeline["entries"])
    assert any("never enter the event" in note for note in timeline["notes"])

    manifest = json.loads((evidence / "manifest.json").read_text())
    assert manifest["workflow_id"] == f"opportunity-{opp}"
    assert {f["name"] for f in manifest["files"]} == {
        "history.json",
        "timeline.md",
        "timeline.json",
        *(f"history-run{k}.json" for k in range(1, runs)),
    }
    assert manifest["runs"] == timeline["runs"]
    for item in manifest["files"]:
        digest = hashlib.sha256((evidence / item["name"]).read_bytes()).hexdigest()
        assert digest == item["sha256"]
    assert json.loads((evidence / "timeline.json").read_text()) == timeline
    assert OM in (evidence / "timeline.md").read_text()

    text = audit_cli("audit", opp)
    assert text.exit_code == 0, text.output
    assert "Order Management rejected round 1" in text.stdout

    exported = tmp_path / "exported" / f"{opp}.json"
    result = audit_cli("history", "export", opp, str(exported), "--all-runs", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(exported.read_text())["events"]
    written = json.loads(result.stdout)["earlier_runs"]
    assert written == [str(exported.with_name(f"{opp}.run{k}.json")) for k in range(1, runs)]

    result = audit_cli("replay", str(exported.parent), str(evidence))
    assert result.exit_code == 0, result.output
    assert f"replayed {2 * runs} histories: {2 * runs} ok, 0 failed" in result.stdout

    result = audit_cli("replay", "--query", f"WorkflowId='opportunity-{opp}'")
    assert result.exit_code == 0, result.output
    noun = "history" if runs == 1 else "histories"
    assert f"replayed {runs} {noun}: {runs} ok, 0 failed" in result.stdout

    # In two processes: the live run is fetched by a replay process of its own.
    query = f"WorkflowId='opportunity-{opp}'"
    result = audit_cli("replay", str(exported), "--query", query, "--jobs", "2")
    assert result.exit_code == 0, result.output
    # The file first, then each run the query lists, in input order.
    first, *live, summary = result.stdout.splitlines()
    assert first == f"ok    {exported}"
    assert len(live) == runs
    assert all(line.startswith(f"ok    opportunity-{opp} (run ") for line in live)
    assert summary == f"replayed {1 + runs} histories: {1 + runs} ok, 0 failed"

    unknown = audit_cli("audit", "006NOSUCHOPP")
    assert unknown.exit_code == 1
    assert "006NOSUCHOPP" in unknown.stderr and len(unknown.stderr.strip().splitlines()) == 1
