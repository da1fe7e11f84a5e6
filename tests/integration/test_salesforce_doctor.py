"""`om salesforce doctor` against real sandboxes: the shared one (every
field present), and sandboxes started with one field missing or of another
type, as an org where the metadata was not (fully) deployed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from om.salesforce_doctor import REQUIREMENTS, objects
from om.settings import load_settings
from sandbox.server import Sandbox, SandboxInfo

runner = CliRunner()


@pytest.fixture
def doctor_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OM_SETTINGS_FILE",):
        monkeypatch.delenv(name, raising=False)
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


def use_jwt(monkeypatch: pytest.MonkeyPatch, info: SandboxInfo) -> None:
    """Point `om` at `info`'s sandbox through the JWT bearer flow only."""
    monkeypatch.setenv("OM_HOME", str(info.home))
    monkeypatch.setenv("OM_SALESFORCE__USERNAME", str(info.jwt_username))
    monkeypatch.setenv("OM_SALESFORCE__CONSUMER_KEY", str(info.jwt_consumer_key))
    monkeypatch.setenv("OM_SALESFORCE__PRIVATEKEY_FILE", str(info.jwt_privatekey_file))
    monkeypatch.setenv("OM_SALESFORCE__DOMAIN", "test")
    monkeypatch.setenv("OM_SALESFORCE__LOGIN_URL", info.salesforce_instance_url)
    monkeypatch.setenv("OM_SALESFORCE__CA_FILE", info.ca_file)
    load_settings.cache_clear()


def test_doctor_passes_against_the_sandbox(om_home: SandboxInfo, doctor_env: None):
    result = runner.invoke(app, ["salesforce", "doctor"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "all required fields and permissions are present"
    assert all(line.startswith("ok ") for line in lines[:-1])
    for req in REQUIREMENTS:
        assert any(f" {req.sobject}.{req.field} " in line for line in lines), req
    as_json = runner.invoke(app, ["salesforce", "doctor", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    items = {c["item"] for c in report["checks"]}
    assert set(objects()) <= items
    assert {f"{r.sobject}.{r.field}" for r in REQUIREMENTS} <= items


@pytest.fixture
def changed_sandbox(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SandboxInfo]:
    running = Sandbox(tmp_path / "home", schema_changes=request.param)
    info = running.start()
    try:
        use_jwt(monkeypatch, info)
        yield info
    finally:
        running.stop()
        load_settings.cache_clear()


@pytest.mark.parametrize("changed_sandbox", [{"Opportunity.Urgent__c": None}], indirect=True)
def test_a_missing_field_is_named_with_the_file_that_adds_it(
    changed_sandbox: SandboxInfo, doctor_env: None
):
    result = runner.invoke(app, ["salesforce", "doctor"])
    assert result.exit_code == 1, result.output
    bad = [line for line in result.stdout.splitlines() if not line.startswith("ok ")]
    assert bad[0].split()[:2] == ["MISSING", "Opportunity.Urgent__c"]
    assert "salesforce/main/default/objects/Opportunity/fields/Urgent__c.field-meta.xml" in bad[0]
    assert bad[1].startswith("1 problem(s)")
    report = json.loads(runner.invoke(app, ["salesforce", "doctor", "--json"]).stdout)
    assert report["ok"] is False
    assert [c["item"] for c in report["checks"] if c["status"] != "present"] == [
        "Opportunity.Urgent__c"
    ]


@pytest.mark.parametrize(
    "changed_sandbox",
    [{"Account.OM_Region__c": "double", "Subscription__c.Status__c": None}],
    indirect=True,
)
def test_a_wrong_type_and_a_missing_field_are_both_reported(
    changed_sandbox: SandboxInfo, doctor_env: None
):
    result = runner.invoke(app, ["salesforce", "doctor", "--json"])
    assert result.exit_code == 1, result.output
    problems = {
        c["item"]: c for c in json.loads(result.stdout)["checks"] if c["status"] != "present"
    }
    assert set(problems) == {"Account.OM_Region__c", "Subscription__c.Status__c"}
    assert problems["Account.OM_Region__c"]["status"] == "wrong_type"
    assert "double, expected picklist or string" in problems["Account.OM_Region__c"]["detail"]
    assert problems["Subscription__c.Status__c"]["status"] == "missing"
    assert (
        "Subscription__c/fields/Status__c.field-meta.xml"
        in (problems["Subscription__c.Status__c"]["detail"])
    )


def test_a_refused_sign_in_is_one_line(
    om_home: SandboxInfo, doctor_env: None, monkeypatch: pytest.MonkeyPatch
):
    use_jwt(monkeypatch, om_home)
    monkeypatch.setenv("OM_SALESFORCE__USERNAME", "nobody@example.com")
    load_settings.cache_clear()
    result = runner.invoke(app, ["salesforce", "doctor"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "invalid_grant" in lines[0] and "nobody@example.com" in lines[0]
