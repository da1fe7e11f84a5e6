"""`om salesforce doctor` against real sandboxes: the shared one (every
field present), and sandboxes started with one field missing or of another
type, as an org where the metadata was not (fully) deployed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from loadtest.ports import free_ports
from om.salesforce_doctor import REQUIREMENTS, objects, requirements_for
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


OM_BIN = str(Path(sys.executable).parent / "om")


def test_om_sandbox_without_a_field_makes_the_doctor_name_it(tmp_path: Path):
    """As a person would try it: `om sandbox --without-field ...` in one
    process, `om salesforce doctor` in another, both through OM_HOME."""
    sf, desk, lic = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    env["OM_HOME"] = str(tmp_path / "home")
    process = subprocess.Popen(
        [
            OM_BIN,
            "sandbox",
            "--json",
            "--no-demo",
            "--without-field",
            "opportunity.license_delivery_date__c",
            *("--salesforce-port", str(sf), "--support-desk-port", str(desk)),
            *("--license-port", str(lic)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, process.communicate()
            lines.append(line)
        doctor = subprocess.run(
            [OM_BIN, "salesforce", "doctor"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert doctor.returncode == 1, doctor.stderr
    bad = [line for line in doctor.stdout.splitlines() if line.startswith("MISSING")]
    assert len(bad) == 1 and "Opportunity.License_Delivery_Date__c" in bad[0]
    assert "License_Delivery_Date__c.field-meta.xml" in bad[0]


def test_om_sandbox_refuses_an_unknown_field_in_one_line(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    env["OM_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [OM_BIN, "sandbox", "--without-field", "Opportunity.Nope__c"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "--without-field" in lines[0] and "Nope__c" in lines[0]
    assert not (tmp_path / "home" / "sandbox.json").exists()


@pytest.mark.parametrize(
    ("mapping", "quote_field"),
    [
        ("standard_quote", "Quote.OM_Start_Date__c"),
        ("salesforce_cpq", "SBQQ__Quote__c.SBQQ__StartDate__c"),
        ("zuora_quotes", "zqu__Quote__c.zqu__StartDate__c"),
    ],
)
def test_with_the_objects_source_the_doctor_checks_the_mapped_objects(
    om_home: SandboxInfo,
    doctor_env: None,
    monkeypatch: pytest.MonkeyPatch,
    mapping: str,
    quote_field: str,
):
    monkeypatch.setenv("OM_SALESFORCE__SOURCE", "objects")
    monkeypatch.setenv("OM_SALESFORCE__MAPPING", mapping)
    load_settings.cache_clear()
    result = runner.invoke(app, ["salesforce", "doctor", "--json"])
    assert result.exit_code == 0, result.output
    items = {c["item"] for c in json.loads(result.stdout)["checks"]}
    settings = load_settings().salesforce
    assert {f"{r.sobject}.{r.field}" for r in requirements_for(settings)} <= items
    assert {quote_field, "Contact.MailingCity", "Account.OM_VAT_Id__c"} <= items
    assert {"ContentVersion.OM_PO_Number__c", "ContentVersion.OM_Signer_Name__c"} <= items
    others = {"Quote", "SBQQ__Quote__c", "zqu__Quote__c"} - {quote_field.split(".")[0]}
    assert not {item.split(".")[0] for item in items} & others


@pytest.mark.parametrize(
    ("mapping", "changed_sandbox", "expected"),
    [
        (
            "standard_quote",
            {"Quote.OM_Start_Date__c": None},
            {
                "Quote.OM_Start_Date__c": (
                    "missing",
                    "salesforce/main/default/objects/Quote/fields/OM_Start_Date__c.field-meta.xml",
                )
            },
        ),
        (
            "salesforce_cpq",
            {
                "SBQQ__Quote__c.OM_Bill_To_Contact__c": None,
                "SBQQ__Quote__c.SBQQ__StartDate__c": None,
            },
            {
                "SBQQ__Quote__c.OM_Bill_To_Contact__c": (
                    "missing",
                    "salesforce/cpq/default/objects/SBQQ__Quote__c/fields/"
                    "OM_Bill_To_Contact__c.field-meta.xml",
                ),
                "SBQQ__Quote__c.SBQQ__StartDate__c": ("missing", "SBQQ managed package"),
            },
        ),
        (
            "zuora_quotes",
            {"zqu__Quote__c.zqu__StartDate__c": "string", "Contact.MailingCity": None},
            {
                "zqu__Quote__c.zqu__StartDate__c": ("wrong_type", "string, expected date"),
                "Contact.MailingCity": ("missing", "standard field"),
            },
        ),
    ],
    indirect=["changed_sandbox"],
)
def test_the_mapped_quote_objects_missing_and_wrong_fields_are_named(
    changed_sandbox: SandboxInfo,
    doctor_env: None,
    monkeypatch: pytest.MonkeyPatch,
    mapping: str,
    expected: dict[str, tuple[str, str]],
):
    monkeypatch.setenv("OM_SALESFORCE__SOURCE", "objects")
    monkeypatch.setenv("OM_SALESFORCE__MAPPING", mapping)
    load_settings.cache_clear()
    result = runner.invoke(app, ["salesforce", "doctor", "--json"])
    assert result.exit_code == 1, result.output
    problems = {
        c["item"]: c for c in json.loads(result.stdout)["checks"] if c["status"] != "present"
    }
    assert set(problems) == set(expected)
    for item, (status, detail) in expected.items():
        assert problems[item]["status"] == status
        assert detail in problems[item]["detail"], problems[item]
