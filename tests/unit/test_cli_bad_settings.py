"""A bad setting is one line naming it, whichever command meets it first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OM_BIN = str(Path(sys.executable).parent / "om")


@pytest.mark.parametrize(
    ("variable", "value", "named", "command"),
    [
        ("OM_LICENSE_RECHECK_INTERVAL", "soon", "license_recheck_interval", ["sandbox", "info"]),
        ("OM_COVER_BUSINESS_DAYS", "-1", "cover_business_days", ["kpi", "--json"]),
        (
            "OM_CALENDAR__REGIONS__EMEA__HOLIDAY_SUBDIVISION",
            "XX",
            "holiday_subdivision",
            ["calendar", "show", "--region", "EMEA", "--year", "2027"],
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, named: str, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update({"OM_HOME": str(tmp_path), variable: value})
    done = subprocess.run(
        [OM_BIN, *command], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr
