"""A hard finding overridden through the real parts: `om approve` refuses an
approval that does not override each hard finding with a comment (one line
naming the codes, nothing recorded), accepts one that does, and the override
shows in `om audit` and in `om kpi`, counted against Billing's later rejection.

The opportunity goes through the dev server, sandbox and `om worker` with the
`om` binary; the kpi commands run in-process, as in test_kpi_live.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from cli.kpi import register
from tests.cli_runner import in_process_cli
from tests.integration import test_om_end_to_end as e2e

temporal_address = e2e.temporal_address
om_env = e2e.om_env
worker = e2e.worker
om, wait_for_stage = e2e.om, e2e.wait_for_stage

OM = "om.amer@example.com"
BILLING = "billing@example.com"
HARD = "ORDER_FORM_MISSING"


@pytest.fixture
def no_order_form(om_env, example_payload, tmp_path: Path) -> str:
    """A fresh AMER SaaS opportunity without an order form, seeded in the sandbox."""
    example_payload |= {
        "id": "006OVR" + uuid.uuid4().hex[:10].upper(),
        "deployment": "saas",
        "order_form": None,
    }
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"opportunities": [example_payload], "delivered_licenses": []}))
    om(om_env, "sandbox", "seed", str(seed))
    return str(example_payload["id"])


def test_override_is_refused_without_codes_and_comment_then_audited_and_counted(
    om_env, worker, no_order_form, tmp_path: Path
):
    opp = no_order_form
    om(om_env, "submit", opp)
    status = wait_for_stage(om_env, opp, "om_review")
    assert [(f["code"], f["severity"]) for f in status["findings"]] == [(HARD, "hard")]
    events_before = len(json.loads(om(om_env, "audit", opp, "--json").stdout)["entries"])

    refused = om(om_env, "approve", opp, "--as", OM, ok=False)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr
    assert f"hard findings that must be fixed: {HARD}" in lines[0]
    assert "--override CODE --comment TEXT" in lines[0]

    no_comment = om(om_env, "approve", opp, "--as", OM, "--override", HARD, ok=False)
    assert no_comment.returncode != 0
    assert f"comment: an override of {HARD} needs a comment" in no_comment.stderr

    wrong = om(
        om_env, "approve", opp, "--as", OM, "--override", "PO_MISSING", "--comment", "x", ok=False
    )
    assert wrong.returncode != 0
    assert f"PO_MISSING is not a hard finding of this round (its hard findings: {HARD})" in (
        wrong.stderr
    )

    audit = json.loads(om(om_env, "audit", opp, "--json").stdout)
    assert len(audit["entries"]) == events_before  # refusals left no trace
    assert wait_for_stage(om_env, opp, "om_review")["round"] == 1

    why = "order form signed on paper, scan attached in Chatter"
    accepted = om(
        om_env, "approve", opp, "--as", OM, "--override", "order_form_missing", "--comment", why
    )
    assert "finance_review" in accepted.stdout or "Billing" in accepted.stdout
    status = wait_for_stage(om_env, opp, "finance_review")
    (entry,) = [h for h in status["history"] if h["action"] == "hard_findings_overridden"]
    assert (entry["actor"], entry["detail"]) == (OM, f"overrode {HARD} (round 1): {why}")

    # The table wraps its "what" column; read that column back as one text.
    table = om(om_env, "audit", opp).stdout.splitlines()
    what = " ".join(line.split("│")[-2].strip() for line in table if line.count("│") > 6)
    assert f"approved round 1: {why} (overrode hard findings {HARD})" in what
    timeline = json.loads(om(om_env, "audit", opp, "--json").stdout)["entries"]
    (decision,) = [e for e in timeline if e["data"].get("overrides")]
    assert (decision["actor"], decision["data"]["overrides"]) == (OM, [HARD])
    assert decision["data"]["comment"] == why

    om(om_env, "finance", "reject", opp, "--as", BILLING, "--comment", "no order form after all")
    wait_for_stage(om_env, opp, "om_review")

    env = {**om_env, "OM_REPORTING_URL": f"sqlite:///{tmp_path / 'reporting.db'}"}
    kpi = in_process_cli(register, env)
    result = kpi("kpi", "--region", "AMER", "--json")
    assert result.exit_code == 0, result.output
    overrides = json.loads(result.stdout)["overrides"]
    assert overrides["by_specialist"].get(OM, 0) >= 1
    assert overrides["billing_rejected"] >= 1
    assert HARD in [c["code"] for c in overrides["by_code"]]
    shown = kpi("kpi", "--region", "AMER", "--no-sync")
    assert "Hard-finding overrides" in shown.stdout and OM in shown.stdout
