"""`om sandbox ...` (cli/sandbox.py) against the running sandbox, via CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.sandbox import sandbox_app
from loadtest.ports import free_port
from om.settings import load_settings

runner = CliRunner()


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_info_prints_sandbox_json(om_home):
    result = runner.invoke(sandbox_app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == om_home.info_json()


def test_show_prints_the_crm_record_with_chatter_and_tickets(om_home):
    result = runner.invoke(sandbox_app, ["show", "0065e00000DEMO11", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["Id"] == "0065e00000DEMO11"
    assert record["StageName"] == "6-Awaiting Signature"
    assert record["Urgent__c"] is True and record["OM_Record_Locked__c"] is False
    assert record["account"]["OM_Region__c"] == "EMEA"
    assert record["license"]["delivered"] is False
    assert record["chatter"] == [] and record["tickets"] == []
    text = runner.invoke(sandbox_app, ["show", "0065e00000DEMO11"])
    assert text.exit_code == 0 and "Northwind Traders" in text.stdout


def test_unknown_id_is_one_clear_line(om_home):
    one_line_error(
        runner.invoke(sandbox_app, ["show", "0065e00000NOPE00"]),
        "unknown opportunity",
        "0065e00000NOPE00",
    )
    one_line_error(
        runner.invoke(sandbox_app, ["deliver-license", "0065e00000NOPE00"]), "0065e00000NOPE00"
    )


def test_seed_and_deliver_license(om_home, example_payload, tmp_path):
    example_payload["id"] = "006TCLISEED00001"
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"opportunities": [example_payload], "delivered_licenses": []}))
    seeded = runner.invoke(sandbox_app, ["seed", str(seed), "--json"])
    assert seeded.exit_code == 0, seeded.output
    assert json.loads(seeded.stdout)["ids"] == ["006TCLISEED00001"]
    delivered = runner.invoke(sandbox_app, ["deliver-license", "006TCLISEED00001", "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout)["delivered"] is True


def test_null_order_form_seeds_with_the_rest_of_the_file(om_home, example_payload, tmp_path):
    """Null means "no order form", as for the PO: the opportunity is seeded
    (its submission then carries the empty form), not refused with the file."""
    other = json.loads(json.dumps(example_payload))
    example_payload["id"] = "006TCLINULLOF001"
    example_payload["order_form"] = None
    other["id"] = "006TCLINULLOF002"
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"opportunities": [example_payload, other]}))
    seeded = runner.invoke(sandbox_app, ["seed", str(seed), "--json"])
    assert seeded.exit_code == 0, seeded.output
    assert json.loads(seeded.stdout)["ids"] == ["006TCLINULLOF001", "006TCLINULLOF002"]
    shown = runner.invoke(sandbox_app, ["show", "006TCLINULLOF001", "--json"])
    assert shown.exit_code == 0, shown.output
    submission = json.loads(json.loads(shown.stdout)["OM_Submission__c"])
    assert submission["order_form"]["attached"] is False


def test_malformed_seed_file_names_the_bad_field(om_home, example_payload, tmp_path):
    example_payload["id"] = "006TCLIBADSEED01"
    example_payload["quote"]["start_date"] = "next tuesday"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"opportunities": [example_payload]}))
    one_line_error(
        runner.invoke(sandbox_app, ["seed", str(bad)]),
        "opportunities[0].quote.start_date",
        "nothing stored",
    )
    one_line_error(runner.invoke(sandbox_app, ["show", "006TCLIBADSEED01"]), "unknown")
    not_json = tmp_path / "not.json"
    not_json.write_text("{oops")
    one_line_error(runner.invoke(sandbox_app, ["seed", str(not_json)]), "not valid JSON")
    one_line_error(
        runner.invoke(sandbox_app, ["seed", str(tmp_path / "missing.json")]), "cannot read"
    )


@pytest.fixture
def stopped_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OM_HOME", str(tmp_path))
    load_settings.cache_clear()
    yield tmp_path
    load_settings.cache_clear()


def test_commands_say_when_the_sandbox_is_not_running(stopped_home: Path):
    one_line_error(runner.invoke(sandbox_app, ["info"]), "not running")
    one_line_error(runner.invoke(sandbox_app, ["show", "0065e00000DEMO01"]), "not running")
    port = free_port()  # nobody listens on it
    (stopped_home / "sandbox.json").write_text(
        json.dumps({"admin_url": f"http://127.0.0.1:{port}/__sandbox", "session_id": "x"})
    )
    one_line_error(
        runner.invoke(sandbox_app, ["deliver-license", "0065e00000DEMO01"]),
        "cannot reach the sandbox",
        str(port),
    )
