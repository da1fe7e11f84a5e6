"""`om calendar show`: a region's closed days from the settings' policy.

Run in-process through Typer's CliRunner with the real settings loader, so
a settings file's company days are what the command shows. Fixed years only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli.calendar import register
from domain.calendar import CalendarPolicy, calendar_year
from tests.cli_runner import in_process_cli


def om(tmp_path: Path, settings: dict | None = None):  # type: ignore[no-untyped-def]
    env = {"OM_HOME": str(tmp_path / "home")}
    if settings is not None:
        file = tmp_path / "settings.json"
        file.write_text(json.dumps(settings))
        env["OM_SETTINGS_FILE"] = str(file)
    return in_process_cli(register, env)


def test_show_lists_emea_bank_holidays_with_day_name_and_source(tmp_path: Path) -> None:
    result = om(tmp_path)("calendar", "show", "--region", "emea", "--year", "2027")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "EMEA 2027: Europe/London, 08:00-17:00 Mon-Fri; public holidays: holidays GB-ENG"
    )
    assert lines[1].startswith("Weekends (Sat, Sun) are closed and not listed")
    rows = [line.split() for line in lines if line.strip().startswith("2027-")]
    assert [row[:2] for row in rows] == [
        ["2027-01-01", "Fri"],
        ["2027-03-26", "Fri"],
        ["2027-03-29", "Mon"],
        ["2027-05-03", "Mon"],
        ["2027-05-31", "Mon"],
        ["2027-08-30", "Mon"],
        ["2027-12-27", "Mon"],
        ["2027-12-28", "Tue"],
    ]
    easter = next(line for line in lines if "2027-03-29" in line)
    assert "Easter Monday" in easter and "public holiday" in easter and "holidays GB-ENG" in easter
    assert "Late Summer Bank Holiday" in result.output
    assert lines[-1] == (
        "8 closed weekdays (8 public holidays, 0 company closures); 0 extra working days."
    )


def test_show_includes_the_settings_files_company_days(tmp_path: Path) -> None:
    settings = {
        "calendar": {
            "regions": {
                "AMER": {
                    "extra_closures": {"2027-07-02": "Summer shutdown"},
                    "extra_working_days": {"2027-10-11": "Columbus Day worked"},
                }
            }
        }
    }
    result = om(tmp_path, settings)("calendar", "show", "--region", "AMER", "--year", "2027")
    assert result.exit_code == 0, result.output
    shutdown = next(line for line in result.output.splitlines() if "2027-07-02" in line)
    assert "Summer shutdown" in shutdown and "company closure" in shutdown
    assert "settings extra_closures" in shutdown
    worked = next(line for line in result.output.splitlines() if "2027-10-11" in line)
    assert "Columbus Day worked" in worked and "public holiday: Columbus Day" in worked
    assert "1 extra working day." in result.output


def test_show_json_is_the_domain_overview(tmp_path: Path) -> None:
    settings = {"calendar": {"regions": {"EMEA": {"extra_closures": ["2027-07-01"]}}}}
    result = om(tmp_path, settings)(
        "calendar", "show", "--region", "EMEA", "--year", "2027", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    policy = CalendarPolicy.model_validate(settings["calendar"])
    assert data == calendar_year("EMEA", 2027, policy).model_dump(mode="json")
    assert data["weekends_listed"] is False and data["weekend"] == ["Sat", "Sun"]
    closure = next(d for d in data["closed"] if d["date"] == "2027-07-01")
    assert closure == {
        "date": "2027-07-01",
        "name": "Company closure",
        "kind": "company_closure",
        "source": "settings extra_closures",
        "instead_of": None,
        "weekday": "Thu",
    }


def test_show_weekends_lists_every_closed_date(tmp_path: Path) -> None:
    result = om(tmp_path)(
        "calendar", "show", "--region", "APAC", "--year", "2027", "--weekends", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["weekends_listed"] is True
    assert sum(d["kind"] == "weekend" for d in data["closed"]) == 104


def test_bad_region_is_one_line_naming_the_option_and_the_choices(tmp_path: Path) -> None:
    result = om(tmp_path)("calendar", "show", "--region", "MARS", "--year", "2027")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --region: unknown region 'MARS'; choose one of AMER, EMEA, APAC\n"
    )
    assert result.stdout == ""


def test_bad_year_is_one_line_naming_the_option_and_the_range(tmp_path: Path) -> None:
    for year, reason in [("twenty", "'twenty' is not a year"), ("2101", "no calendar for 2101")]:
        result = om(tmp_path)("calendar", "show", "--region", "EMEA", "--year", year)
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: --year: {reason}")
        assert result.stderr.endswith("give one in 1872-2100\n")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    settings = {"calendar": {"regions": {"EMEA": {"extra_closures": {"2027-02-30": "x"}}}}}
    result = om(tmp_path, settings)("calendar", "show", "--region", "EMEA", "--year", "2027")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid settings: calendar.regions.EMEA.extra_closures")
    assert result.stderr.count("\n") == 1


def test_om_mounts_calendar_show_without_loading_the_service_clients(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(
        app,
        ["calendar", "show", "--region", "EMEA", "--year", "2027", "--json"],
        env={"OM_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert "2027-08-30" in {d["date"] for d in json.loads(result.output)["closed"]}
    heavy = ("fastapi", "simple_salesforce", "temporalio")
    probe = f"import sys, cli.calendar; print(sorted(set({heavy!r}) & set(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
