"""The first `om dev` (what `make run` runs) leaves an SLA warning in the
sandbox's chat within a minute, whatever the day and hour it starts.

Real processes: `om dev` on a fresh home with free ports seeds the demo and
submits it; `om sandbox notifications` then reads the chat stand-in. The
backdated deal's round opens with its 50% checkpoint already due in its
region's calendar (`domain.sla.backdated_for_warning`; tests/unit/test_sla.py
checks the instant at awkward days and hours), so nothing here depends on the
day the test runs.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from cli.dev import SLA_WARNING_DEMO
from tests.integration.test_dev_crash_recovery import OM, DevRun, _dev_env


def test_first_om_dev_posts_an_sla_warning_within_a_minute(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _dev_env(home)
    run = DevRun(env, tmp_path / "dev.out")
    try:
        run.wait_up(timeout=120)
        deadline = time.monotonic() + 60
        while True:
            shown = subprocess.run(
                [OM, "sandbox", "notifications", "--opportunity", SLA_WARNING_DEMO, "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            warnings = [
                m for m in json.loads(shown.stdout) if "of the review SLA used" in m["text"]
            ]
            if warnings:
                break
            assert time.monotonic() < deadline, f"no SLA warning in a minute:\n{run.text()}"
            time.sleep(1)
        assert warnings[0]["channel"].startswith("#om-emea")
        text = subprocess.run(
            [OM, "sandbox", "notifications"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert SLA_WARNING_DEMO in text and "of the review SLA used" in text
        status = json.loads(
            subprocess.run(
                [OM, "status", SLA_WARNING_DEMO],
                env={**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{env['OM_DEV_PORTS__TEMPORAL']}"},
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        )
        assert status["stage"] == "om_review" and not status["breached"]
        assert [h["action"] for h in status["history"]].count("sla_warning") == 1
    finally:
        assert run.stop() == 0, run.text()
