"""The license delivery review's pure parts: business days a ticket is open,
the business-day answer the workflow records, the report's summary lists,
the report store, the Schedule spec, the `om licenses report` command, and
the sandbox fields and SOQL the review's query relies on."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from activities.license_review import LicenseReviewStore, candidates_soql
from cli.licenses import register
from domain.calendar import RegionHours, calendar_for
from domain.license_review import (
    LicenseReviewItem,
    LicenseReviewReport,
    business_day_answer,
    business_days_open,
    open_over,
    review_window_start,
)
from domain.models import Opportunity, Region
from om.settings import Settings, load_settings
from sandbox.schema import records_for
from sandbox.soql import parse
from sandbox.store import Store
from workers.schedules import license_review_schedule_id, review_spec

AMER = calendar_for(Region.AMER)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- business days open -----------------------------------------------------------


def test_business_days_open_counts_days_after_the_opening_day():
    friday = utc(2026, 11, 20, 18)  # Friday 10:00 Pacific
    assert business_days_open(AMER, friday, utc(2026, 11, 20, 23)) == 0
    assert business_days_open(AMER, friday, utc(2026, 11, 23, 18)) == 1  # Monday
    assert business_days_open(AMER, friday, utc(2026, 11, 24, 18)) == 2  # Tuesday


def test_holidays_and_weekends_do_not_count():
    # Thanksgiving is Thursday 26 November 2026 (US).
    wednesday = utc(2026, 11, 25, 18)
    assert business_days_open(AMER, wednesday, utc(2026, 11, 30, 18)) == 2  # Fri 27, Mon 30


def test_days_are_the_regions_local_dates():
    # 07:30 UTC on Tuesday is still Monday evening in Los Angeles.
    monday_evening = utc(2026, 11, 24, 7, 30)
    assert business_days_open(AMER, monday_evening, utc(2026, 11, 24, 18)) == 1
    assert business_days_open(AMER, utc(2026, 11, 30), utc(2026, 11, 20)) == 0  # clock skew


@pytest.mark.parametrize(("days", "over"), [(None, False), (0, False), (3, False), (4, True)])
def test_open_over_means_strictly_more(days, over):
    assert open_over(days, 3) is over


def test_review_window_is_thirty_local_days():
    # 06:00 UTC on the 27th is the 26th in Los Angeles.
    assert review_window_start(AMER, utc(2026, 11, 27, 6)) == date(2026, 10, 27)
    assert review_window_start(AMER, utc(2026, 11, 27, 18)) == date(2026, 10, 28)


# ---- business day answer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "local", "working"),
    [
        (utc(2026, 11, 23, 15), date(2026, 11, 23), True),  # Monday
        (utc(2026, 11, 26, 15), date(2026, 11, 26), False),  # Thanksgiving
        (utc(2026, 11, 28, 15), date(2026, 11, 28), False),  # Saturday
        (utc(2026, 11, 28, 5), date(2026, 11, 27), True),  # Friday night, Pacific
    ],
)
def test_business_day_answer_uses_the_region_calendar(at, local, working):
    answer = business_day_answer(AMER, Region.AMER, at)
    assert (answer.local_date, answer.business_day) == (local, working)


# ---- report -----------------------------------------------------------------------


def item(opportunity_id: str, outcome: str, **more) -> LicenseReviewItem:
    return LicenseReviewItem(opportunity_id=opportunity_id, outcome=outcome, **more)


def sample_report(run_date: date = date(2026, 11, 27)) -> LicenseReviewReport:
    return LicenseReviewReport.build(
        Region.AMER,
        utc(2026, 11, 27, 15),
        run_date,
        [
            item("006A", "delivered", license_delivery_date=date(2026, 11, 27)),
            item("006B", "ticket_opened", ticket_id=1, ticket_status="new", business_days_open=0),
            item("006C", "ticket_open", ticket_id=2, ticket_status="open", business_days_open=4),
            item("006D", "ticket_open", ticket_id=3, ticket_status="solved", business_days_open=9),
            item("006E", "ticket_open", ticket_id=4, ticket_status="open", business_days_open=3),
            item("006F", "left_to_workflow"),
        ],
        open_days_threshold=3,
        failed={"006G": "unknown to the license service"},
    )


def test_report_summary_lists_are_derived_from_items():
    report = sample_report()
    assert report.delivered_today == ["006A"]
    assert report.tickets_opened == ["006B"]
    # Solved tickets are not open; exactly N days is not "more than N".
    assert report.tickets_open_over_n_days == ["006C"]
    assert report.failed == {"006G": "unknown to the license service"}


def test_store_saves_one_file_per_region_and_day_and_reads_the_latest(tmp_path: Path):
    store = LicenseReviewStore(tmp_path)
    assert store.latest() == []
    store.save(sample_report(date(2026, 11, 26)))
    path = store.save(sample_report(date(2026, 11, 27)))
    assert path == tmp_path / "license-reviews" / "AMER" / "2026-11-27.json"
    assert json.loads(path.read_text())["tickets_opened"] == ["006B"]
    emea = LicenseReviewReport.skipped(Region.EMEA, utc(2026, 12, 25, 9), date(2026, 12, 25))
    store.save(emea)
    assert [r.run_date for r in store.latest(Region.AMER)] == [date(2026, 11, 27)]
    assert [r.region for r in store.latest()] == [Region.AMER, Region.EMEA]
    assert store.latest("APAC") == []


# ---- schedule and query -----------------------------------------------------------


def test_schedule_runs_at_opening_on_working_weekdays_in_the_region_zone():
    spec = review_spec(RegionHours(time_zone="Europe/London", open=time(8, 30), close=time(17)))
    assert spec.time_zone_name == "Europe/London"
    [calendar] = spec.calendars
    assert [(r.start, r.end or r.start) for r in calendar.hour] == [(8, 8)]
    assert [r.start for r in calendar.minute] == [30]
    assert sorted(r.start for r in calendar.day_of_week) == [1, 2, 3, 4, 5]  # Mon..Fri
    assert license_review_schedule_id(Region.EMEA) == "om-license-review-EMEA"


def test_candidate_query_is_accepted_by_the_sandbox_soql():
    query = parse(candidates_soql(Settings(), Region.EMEA, "2026-10-28"))
    assert [(c.field, c.op, c.value) for c in query.where] == [
        ("StageName", "=", "Closed Won"),
        ("Deployment__c", "=", "self_managed"),
        ("OM_Region__c", "=", "EMEA"),
        ("CloseDate", ">=", "2026-10-28"),
        ("License_Delivery_Date__c", "=", None),
    ]


def test_sandbox_opportunity_carries_deployment_and_region(example_payload, tmp_path: Path):
    saas = {**example_payload, "id": "006SAAS", "deployment": "saas"}
    emea = {
        **example_payload,
        "id": "006EMEA",
        "account": {**example_payload["account"], "region": "EMEA"},
    }
    opportunities = [Opportunity.model_validate(p) for p in (example_payload, saas, emea)]
    record = records_for(opportunities[1], "stamp")["Opportunity"]
    assert (record["Deployment__c"], record["OM_Region__c"]) == ("saas", "AMER")
    store = Store(tmp_path / "sandbox.db")
    try:
        store.seed(opportunities, [])
        for opp, close in (("006SAAS", "2026-11-20"), ("006EMEA", "2026-11-20")):
            store.update("Opportunity", opp, {"StageName": "Closed Won", "CloseDate": close})
        store.update(
            "Opportunity",
            example_payload["id"],
            {"StageName": "Closed Won", "CloseDate": "2026-09-01"},
        )

        def ids(soql: str) -> list[str]:
            return [i for i, _ in store.query(parse("SELECT Id FROM Opportunity WHERE " + soql))]

        assert ids("CloseDate >= 2026-10-28 AND License_Delivery_Date__c = null") == [
            "006SAAS",
            "006EMEA",
        ]
        assert ids("Deployment__c = 'self_managed' AND OM_Region__c = 'EMEA'") == ["006EMEA"]
        assert ids("CloseDate < 2026-10-28") == [example_payload["id"]]
        store.update("Opportunity", "006EMEA", {"License_Delivery_Date__c": "2026-11-21"})
        assert ids("License_Delivery_Date__c = null AND CloseDate != null") == [
            example_payload["id"],
            "006SAAS",
        ]
    finally:
        store.close()


# ---- om licenses report -----------------------------------------------------------


@pytest.fixture
def licenses_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a group, so `licenses` is a subcommand
    register(app)
    monkeypatch.setenv("OM_HOME", str(tmp_path))
    load_settings.cache_clear()
    yield app
    load_settings.cache_clear()


def test_report_prints_the_latest_reports(licenses_cli, tmp_path: Path):
    runner = CliRunner()
    missing = runner.invoke(licenses_cli, ["licenses", "report", "--region", "EMEA"])
    assert missing.exit_code == 1
    assert "no license review report stored for EMEA yet" in missing.output
    LicenseReviewStore(tmp_path).save(sample_report())
    shown = runner.invoke(licenses_cli, ["licenses", "report"])
    assert shown.exit_code == 0, shown.output
    assert "AMER 2026-11-27" in shown.output and "1 delivered" in shown.output
    assert "006C" in shown.output and "(> 3)" in shown.output
    as_json = runner.invoke(licenses_cli, ["licenses", "report", "--region", "AMER", "--json"])
    [data] = json.loads(as_json.output)
    assert data["tickets_open_over_n_days"] == ["006C"]
