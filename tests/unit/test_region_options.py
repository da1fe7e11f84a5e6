"""Every `--region` option takes a region in any case and refuses anything
else with one line listing the regions as they are written (upper case)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from cli.main import app
from domain.regions import Region
from tests.cli_runner import in_process_cli

COMMANDS_WITH_REGION = [
    ("queue",),
    ("kpi", "--no-sync"),
    ("licenses", "review"),
    ("licenses", "report"),
    ("calendar", "show"),
]


@pytest.fixture
def om(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "OM_HOME": str(tmp_path / "state"),
        "OM_REPORTING_URL": f"sqlite:///{tmp_path / 'reporting.db'}",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens
    }
    return in_process_cli(lambda parent: parent.add_typer(app), env)


@pytest.mark.parametrize("command", COMMANDS_WITH_REGION, ids=" ".join)
@pytest.mark.parametrize("value", ["eu", "EU", "amer-latam"])
def test_an_unknown_region_is_one_line_listing_them_in_upper_case(om, command, value):
    result = om(*command, "--region", value)
    assert result.exit_code == 1
    assert result.output == (
        f"error: --region: unknown region {value!r}; choose one of AMER, EMEA, APAC\n"
    )


def test_a_region_in_any_case_is_that_region(om):
    for value in ("emea", "Emea", "EMEA"):
        report = om("licenses", "report", "--region", value)
        assert report.exit_code == 1
        assert "no license review report stored for EMEA" in report.output
    kpi = om("kpi", "--no-sync", "--region", "apac", "--json")
    assert kpi.exit_code == 0 and '"region": "APAC"' in kpi.output
    queue = om("queue", "--region", "amer")
    assert "cannot reach Temporal" in queue.output  # got past the option


@pytest.mark.parametrize("command", COMMANDS_WITH_REGION[:-1], ids=" ".join)
def test_help_lists_the_regions_in_upper_case(om, command):
    shown = om(*command, "--help").output
    assert "[AMER|EMEA|APAC]" in shown and "amer" not in shown


def test_lower_case_is_read_and_upper_case_is_written():
    assert Region("amer") is Region.AMER and Region(" apac ") is Region.APAC
    with pytest.raises(ValueError, match="'eu' is not a valid Region"):
        Region("eu")
    adapter = TypeAdapter(Region)
    assert adapter.validate_json('"emea"') is Region.EMEA
    assert adapter.dump_json(adapter.validate_python("emea")) == b'"EMEA"'
    with pytest.raises(ValidationError, match="'AMER', 'EMEA' or 'APAC'"):
        adapter.validate_python("eu")
