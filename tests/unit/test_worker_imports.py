"""The worker process runs no web server, so it must not load one: FastAPI
and the API's modules stay out of `om worker` (and out of every client that
only needs the data converter)."""

from __future__ import annotations

import json
import subprocess
import sys

WORKER_MODULES = [
    # `om worker`: the CLI, the worker, and what build_worker / run_worker import lazily.
    "cli.main",
    "cli.processes",
    "cli.common",
    "workers.worker",
    "om.client",
    "om.approvals",
    "om.intake",
    "om.reporting",
    "workers.schedules",
    "workers.search_attributes",
    "activities",
    "activities.license_review",
    "activities.renewals",
]


def test_the_worker_does_not_import_fastapi_or_the_api():
    # A fresh interpreter: this test process has imported the API already.
    script = (
        "import importlib, json, sys\n"
        f"for name in {WORKER_MODULES!r}: importlib.import_module(name)\n"
        "web = ('fastapi', 'starlette', 'api', 'uvicorn')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in web)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []
