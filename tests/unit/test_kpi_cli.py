"""`om kpi` and `om kpi csat import` on a store in tmp_path (no Temporal:
`--no-sync`, except the test that checks what an unreachable server says)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.kpi import register
from om.reporting import project_history
from om.reporting_store import ReportingStore
from tests.cli_runner import in_process_cli
from tests.unit.test_reporting_store import HISTORIES, load

GOOD_CSV = "region,quarter,response\nAMER,2026Q4,Excellent\nAMER,2026Q4,Poor\nEMEA,2026Q4,Good\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OM_HOME": str(tmp_path / "state"),
        "OM_REPORTING_URL": f"sqlite:///{tmp_path / 'reporting.db'}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: sync must fail clearly
    }


@pytest.fixture
def om(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return in_process_cli(register, env)


def test_kpi_json_reports_the_projected_histories(om, env):
    with ReportingStore(env["OM_REPORTING_URL"]) as store:
        for name in (
            "test_finance_reject_returns_to_om_as_accuracy_miss.json",
            "test_undelivered_license_opens_one_ticket_and_completes_when_delivered.json",
            "test_self_managed_license_delivered_by_automation.json",
            "test_rejected_opportunity_closed_lost_ends_workflow.json",
        ):
            project_history(store, load(HISTORIES / name))

    result = om("kpi", "--no-sync", "--quarter", "2026Q4", "--region", "amer", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["period"], report["region"], report["rounds"]) == ("2026Q4", "AMER", 5)
    assert report["sla"]["decided"] == 4 and report["sla"]["share_within"]["value"] == 1.0
    assert report["accuracy"]["om_approvals"] == 3
    assert report["accuracy"]["finance_rejections"] == 1
    assert report["closed_won"] == {
        "total": 2,
        "by_region": {"AMER": 2},
        "by_specialist": {"om.amer@example.com": 2},
    }
    assert report["license_delivery"]["automatic_share"]["value"] == 0.5
    assert report["license_delivery"]["tickets_opened"] == 1
    assert report["rejections"]["by_reason"] == [{"code": "OTHER", "count": 1}]

    text = om("kpi", "--no-sync", "--quarter", "2026Q4")
    assert text.exit_code == 0, text.output
    for title in ("Approval SLA", "Approval accuracy", "Opportunity Rejections", "Regional CSAT"):
        assert title in text.stdout
    assert "missed" in text.stdout and "met" in text.stdout  # accuracy 2/3; SLA 4/4


def test_empty_store_and_empty_period_report_na(om):
    result = om("kpi", "--no-sync", "--from", "2025-01-01", "--to", "2025-03-31", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["period"] == "2025-01-01 to 2025-03-31" and report["rounds"] == 0
    assert report["sla"]["median_hours"]["value"] is None
    assert report["csat"]["overall"]["rating"]["note"] == "no responses"
    text = om("kpi", "--no-sync")
    assert text.exit_code == 0, text.output
    assert "n/a" in text.stdout and "no responses" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--quarter", "2026Q4", "--from", "2026-10-01"), "either --quarter or --from/--to"),
        (("--fiscal",), "--fiscal reads --quarter"),
        (("--quarter", "2026Q5"), "cannot read quarter '2026Q5'"),
        (("--from", "2026-12-01", "--to", "2026-11-01"), "ends (2026-11-01) before it starts"),
    ],
)
def test_bad_period_is_one_clear_line(om, args: tuple[str, ...], message: str):
    result = om("kpi", "--no-sync", *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sync_without_temporal_says_so_and_offers_no_sync(om):
    result = om("kpi")
    assert result.exit_code == 1
    assert "cannot reach Temporal at 127.0.0.1:1" in result.stderr
    assert "--no-sync" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_csat_import_is_all_or_nothing_and_idempotent(om, env, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD_CSV + "APAC,2026Q4,Very Good\n")
    result = om("kpi", "csat", "import", str(bad))
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "line 5, column 'response'" in line and "'Very Good'" in line
    assert "nothing imported" in line
    with ReportingStore(env["OM_REPORTING_URL"]) as store:
        assert store.count("csat_responses") == 0

    good = tmp_path / "good.csv"
    good.write_text(GOOD_CSV)
    first = om("kpi", "csat", "import", str(good), "--json")
    again = om("kpi", "csat", "import", str(good), "--json")
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert (json.loads(first.stdout)["added"], json.loads(again.stdout)["added"]) == (3, 0)
    assert json.loads(again.stdout)["already_imported"] == 3

    report = json.loads(om("kpi", "--no-sync", "--quarter", "2026Q4", "--json").stdout)
    amer = report["csat"]["by_region"]["AMER"]
    assert (amer["responses"], amer["rating"]["value"], amer["rating"]["met"]) == (2, 0.5, False)
    assert report["csat"]["by_region"]["EMEA"]["rating"]["met"] is True


def test_csat_import_of_a_missing_file_is_one_line(om, tmp_path: Path):
    result = om("kpi", "csat", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1 and "cannot read" in result.stderr


def test_unusable_store_url_is_one_line_without_the_password(om, env):
    env["OM_REPORTING_URL"] = "postgresql+nosuchdriver://om:s3cret@db/om"
    result = om("kpi", "--no-sync")
    assert result.exit_code == 1
    assert "s3cret" not in result.stderr and "om:***@db" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


SAMPLE_CSAT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "csat-2026Q4.csv"


def test_shipped_csat_sample_imports_and_rates_each_region(om, env):
    """The sample the README tour imports must keep matching the parser: a
    format change that breaks it fails here, not in a reader's terminal."""
    imported = om("kpi", "csat", "import", str(SAMPLE_CSAT), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["added"] == 12
    with ReportingStore(env["OM_REPORTING_URL"]) as store:
        assert store.count("csat_responses") == 12

    result = om("kpi", "--no-sync", "--quarter", "2026Q4", "--json")
    assert result.exit_code == 0, result.output
    csat = json.loads(result.stdout)["csat"]
    # (Excellent + Good + Neutral) / all, per region, counted from the file by hand
    rating = {region: row["rating"]["value"] for region, row in csat["by_region"].items()}
    assert rating == {"AMER": 0.75, "EMEA": 1.0, "APAC": 0.5}
    assert csat["by_region"]["APAC"]["answers"]["Very Poor"] == 1
    assert csat["overall"]["responses"] == 12 and csat["overall"]["rating"]["value"] == 0.75

    other = om("kpi", "--no-sync", "--quarter", "2026Q3", "--json")
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["csat"]["overall"]["responses"] == 0
