"""`om check FILE`: the booking-requirements pre-check from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_bookable_payload_exits_0(tmp_path, example_payload):
    file = tmp_path / "opp.json"
    file.write_text(json.dumps(example_payload))
    result = runner.invoke(app, ["check", str(file)])
    assert result.exit_code == 0 and "no findings" in result.output


def test_findings_are_listed_and_exit_1(tmp_path, example_payload):
    example_payload["tax_removed"] = True
    example_payload["account"]["country"] = "IN"
    file = tmp_path / "opp.json"
    file.write_text(json.dumps(example_payload))
    result = runner.invoke(app, ["check", str(file), "--json"])
    assert result.exit_code == 1
    codes = [f["code"] for f in json.loads(result.output)]
    assert codes == ["TAX_EXEMPT_CERTIFICATE_MISSING", "DIRECT_DEAL_NOT_ALLOWED"]


def test_invalid_payload_is_one_line_naming_the_field(tmp_path, example_payload):
    example_payload["account"]["region"] = "MARS"
    file = tmp_path / "opp.json"
    file.write_text(json.dumps(example_payload))
    result = runner.invoke(app, ["check", str(file)])
    assert result.exit_code == 1
    assert "account.region" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["check", str(tmp_path / "nope.json")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_null_order_form_is_checked_not_refused(tmp_path, example_payload):
    example_payload["order_form"] = None
    file = tmp_path / "opp.json"
    file.write_text(json.dumps(example_payload))
    result = runner.invoke(app, ["check", str(file), "--json"])
    assert result.exit_code == 1, result.output
    assert [(f["code"], f["field"]) for f in json.loads(result.output)] == [
        ("ORDER_FORM_MISSING", "order_form.attached")
    ]


def test_null_account_is_one_line_naming_the_field(tmp_path, example_payload):
    example_payload["account"] = None
    file = tmp_path / "opp.json"
    file.write_text(json.dumps(example_payload))
    result = runner.invoke(app, ["check", str(file)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert "account: is required; null is not accepted" in line
