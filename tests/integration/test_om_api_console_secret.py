"""`om api` outside demo mode will not start without a console secret:
sessions and CSRF tokens would be signed with a key no other replica, and
no restart, shares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadtest.ports import free_port


def _om_api(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    om = Path(sys.executable).parent / "om"
    return subprocess.run(
        [str(om), "api", "--port", str(free_port())],
        env={**clean, "OM_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_om_api_refuses_to_start_without_a_console_secret_in_one_line(tmp_path):
    done = _om_api(tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: OM_CONSOLE_SECRET is not set")
    assert "OM_DEMO=true" in lines[0]
