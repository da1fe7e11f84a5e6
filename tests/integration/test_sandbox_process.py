"""`python -m sandbox` runs alone, seeds an empty home and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from loadtest.ports import free_ports
from sandbox.client import SandboxAdminClient


def test_python_m_sandbox_seeds_demo_data_and_stops_on_sigterm(tmp_path: Path):
    sf, desk, lic = free_ports(3)
    env = {**os.environ, "OM_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--salesforce-port",
            str(sf),
            "--support-desk-port",
            str(desk),
            "--license-port",
            str(lic),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        while not lines or lines[-1] != "}\n":  # the info JSON, printed once seeded
            line = process.stdout.readline()
            assert line, process.communicate()  # EOF: it died
            lines.append(line)
        info = json.loads("".join(lines))
        assert info == json.loads((tmp_path / "home" / "sandbox.json").read_text())
        assert info["salesforce_instance_url"] == f"https://127.0.0.1:{sf}"
        assert info["admin_url"] == f"http://127.0.0.1:{lic}/__sandbox"
        assert SandboxAdminClient(info["admin_url"], info["session_id"]).health() == {
            "ok": True,
            # 26 contract deals and 7 renewal opportunities of the reconciliation demo
            "opportunities": 33,
            "subscriptions": 7,
        }
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "Traceback" not in err
