"""`om kpi` against a live run: the projection reads the history from the dev
server, the KPIs count the opportunity, and a second sync adds nothing.

The opportunity goes through the real parts (dev server, sandbox, `om worker`)
with the `om` binary; the kpi commands run in-process from `register`, so this
test does not depend on how cli/main.py mounts them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli.kpi import register
from om.reporting_store import ReportingStore
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
BILLING = "billing@example.com"
SYNCED = re.compile(r"synced from Temporal: (\d+) approval workflow runs, (\d+) read, (\d+) closed")


@pytest.fixture
def kpi_cli(om_env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Invoke the kpi commands in-process with the environment `om` gets and a
    reporting store of this test's own."""
    env = {**om_env, "OM_REPORTING_URL": f"sqlite:///{tmp_path / 'reporting.db'}"}
    invoke = in_process_cli(register, env)

    invoke.url = env["OM_REPORTING_URL"]  # type: ignore[attr-defined]
    return invoke


# With a threshold of one event the workflow continues as new at every quiet
# point: the rounds, read across its runs, must be counted once each.
@pytest.mark.parametrize("continue_after", [None, "1"], ids=["one-run", "continued"])
def test_kpi_syncs_a_live_history_once_and_counts_the_closed_won_deal(
    om_env, worker, new_opportunity, kpi_cli, continue_after
):
    opp = new_opportunity
    submit_env = dict(om_env)
    if continue_after:
        submit_env["OM_CONTINUE_AS_NEW_AFTER_EVENTS"] = continue_after
    om(submit_env, "submit", opp)
    wait_for_stage(om_env, opp, "om_review")
    om(om_env, "reject", opp, "--as", OM, "--reason", "PO_MISSING", "--comment", "Attach the PO")
    wait_for_stage(om_env, opp, "rejected")
    om(om_env, "resubmit", opp, "--as", "riley.rep@example.com")
    wait_for_stage(om_env, opp, "om_review")
    om(om_env, "approve", opp, "--as", OM)
    om(om_env, "finance", "approve", opp, "--as", BILLING)
    wait_for_stage(om_env, opp, "license_ticket")
    om(om_env, "sandbox", "deliver-license", opp)
    wait_for_stage(om_env, opp, "completed")

    result = kpi_cli("kpi", "--region", "AMER", "--json")
    assert result.exit_code == 0, result.output
    listed, read, unchanged = map(int, SYNCED.search(result.stderr).groups())  # type: ignore[union-attr]
    assert listed >= 1 and read == listed and unchanged == 0
    report = json.loads(result.stdout)
    assert report["closed_won"]["by_specialist"].get(OM, 0) >= 1
    assert report["license_delivery"]["tickets_opened"] >= 1
    assert "PO_MISSING" in [r["code"] for r in report["rejections"]["by_reason"]]

    with ReportingStore(kpi_cli.url) as store:
        rounds = [r for r in store.review_rounds() if r.opportunity_id == opp]
        transitions = store.count("transitions")
    assert [(r.round, r.outcome) for r in rounds] == [(1, "rejected"), (2, "approved")]
    won = rounds[1]
    assert (won.finance_outcome, won.decided_by, won.license_tickets) == ("approved", OM, 1)
    assert won.license_delivered_at is not None and won.sla_met is not None
    assert rounds[0].reasons == ("PO_MISSING",)

    again = kpi_cli("kpi", "--json")
    assert again.exit_code == 0, again.output
    listed_again, _, unchanged_again = map(int, SYNCED.search(again.stderr).groups())  # type: ignore[union-attr]
    assert listed_again == listed and unchanged_again >= 1  # the completed run is not re-read
    with ReportingStore(kpi_cli.url) as store:
        assert store.count("transitions") == transitions
