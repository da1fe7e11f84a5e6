"""Help names the opportunity as people write it (OPPORTUNITY_ID) and shows
flags as flags: `--json` takes no value, so no `<bool>` after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import app
from tests.cli_runner import in_process_cli

TAKE_AN_OPPORTUNITY = [
    ("submit",),
    ("status",),
    ("approve",),
    ("reject",),
    ("finance", "approve"),
    ("finance", "reject"),
    ("resubmit",),
    ("recall",),
    ("close-lost",),
    ("audit",),
    ("history", "export"),
    ("sandbox", "show"),
    ("sandbox", "deliver-license"),
]


@pytest.fixture
def om(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "OM_HOME": str(tmp_path / "state"),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens
        "COLUMNS": "160",
    }
    return in_process_cli(lambda parent: parent.add_typer(app), env)


@pytest.mark.parametrize("command", TAKE_AN_OPPORTUNITY, ids=" ".join)
def test_help_names_the_opportunity_id_in_capitals(om, command):
    shown = om(*command, "--help")
    assert shown.exit_code == 0
    assert "OPPORTUNITY_ID" in shown.output
    assert "opportunity_id" not in shown.output


@pytest.mark.parametrize(
    "command",
    [c for c in TAKE_AN_OPPORTUNITY if c != ("status",)] + [("queue",), ("kpi",)],
    ids=" ".join,
)
def test_json_is_shown_as_a_flag(om, command):
    shown = om(*command, "--help").output
    json_lines = [line for line in shown.splitlines() if "--json" in line]
    assert len(json_lines) == 1
    assert "<bool>" not in json_lines[0] and "True" not in json_lines[0]


def test_approve_help_reads_as_users_expect(om):
    shown = om("approve", "--help").output
    assert "approve [OPTIONS] {OPPORTUNITY_ID}" in shown
    json_line = next(line for line in shown.splitlines() if "--json" in line)
    assert json_line.split()[1:4] == ["--json", "Print", "JSON"]


def test_status_is_always_json_so_its_json_flag_is_taken_but_not_advertised(om):
    assert "--json" not in om("status", "--help").output
    taken = om("status", "006ANY", "--json")
    assert taken.exit_code == 1 and "cannot reach Temporal" in taken.output


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (("history", "export"), "--all-runs"),
        (("kpi",), "--fiscal"),
        (("kpi",), "--no-sync"),
        (("calendar", "show"), "--weekends"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_yes_no_flags_are_shown_without_a_value(om, command, flag):
    shown = om(*command, "--help").output
    [line] = [line for line in shown.splitlines() if flag in line and "│" in line]
    assert "<bool>" not in line
