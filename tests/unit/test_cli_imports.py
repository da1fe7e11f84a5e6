"""`om` loads only what the command it runs uses.

`om --help` builds every command, so every command module is imported;
their top levels stay light and the service clients (Salesforce, the
support desk's SOAP, the reporting store, the API, Temporal's SDK) load
inside the commands that call them. A module-level import of one of them
in cli/ makes every `om` invocation pay for it; these tests name it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "opportunity.example.json"
CLIENTS = ("simple_salesforce", "fastapi", "zeep", "sqlalchemy")
WATCHED = (*CLIENTS, "temporalio", "holidays", "uvicorn", "httpx", "requests")

# The command runs in a fresh interpreter (this test process has imported
# everything already), through the app `om` runs; the top-level packages
# it loaded are the last line of stdout.
PROBE = """
import json, os, sys
from typer.testing import CliRunner
from cli.main import app
result = CliRunner().invoke(app, sys.argv[1:], catch_exceptions=False)
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(%r))
print(json.dumps({"exit_code": result.exit_code, "output": result.output, "loaded": loaded}))
sys.stdout.flush()
os._exit(0)  # as `om` itself exits (cli.main.main): no teardown of the SDK's threads
"""


def run_om(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (WATCHED,), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "OM_HOME": str(tmp_path), **(env or {})},
    )
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_om_help_loads_no_service_client_and_not_temporal(tmp_path: Path) -> None:
    result = run_om(tmp_path, "--help")
    assert result["exit_code"] == 0
    assert "status" in str(result["output"]) and "calendar" in str(result["output"])
    assert result["loaded"] == []


@pytest.mark.parametrize(
    "group", ["kpi", "audit", "licenses", "renewals", "sandbox", "calendar", "salesforce"]
)
def test_a_group_help_loads_no_service_client(tmp_path: Path, group: str) -> None:
    result = run_om(tmp_path, group, "--help")
    assert result["exit_code"] == 0
    assert result["loaded"] == []


def test_om_check_runs_without_temporal_or_the_service_clients(tmp_path: Path) -> None:
    result = run_om(tmp_path, "check", str(FIXTURE), "--json")
    assert result["exit_code"] == 0, result["output"]
    assert json.loads(str(result["output"])) == []
    assert result["loaded"] == []


def test_om_status_loads_temporal_but_no_service_client(tmp_path: Path) -> None:
    # Nothing listens on port 1: the command connects, fails with its one
    # line, and what it imported on the way is what a real `om status` does.
    result = run_om(tmp_path, "status", "0065e00000DEMO01", env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result["exit_code"] == 1
    assert "temporalio" in result["loaded"]
    assert not set(CLIENTS) & set(result["loaded"])  # type: ignore[arg-type]
