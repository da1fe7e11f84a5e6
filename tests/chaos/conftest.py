"""The chaos suite's stack: a dev server, the sandbox and an `om worker`,
each its own process so a scenario can kill or restart it, and a client
that drives opportunities through the cycle as concurrent users would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from loadtest.cycle import Driver
from loadtest.stack import SandboxProcess, TemporalServer, WorkerProcess, om_env
from om.approvals import Approvals
from om.client import connect
from om.settings import Settings
from sandbox.client import SandboxAdminClient

# A license check that stalls longer than this is a timeout (the scenario
# stalls the license service for 2 s).
LICENSE_TIMEOUT = "1"


@dataclass
class Stack:
    temporal: TemporalServer
    sandbox: SandboxProcess
    admin: SandboxAdminClient
    worker: WorkerProcess
    approvals: Approvals

    def driver(self, **options: object) -> Driver:
        return Driver(self.approvals, self.admin, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def chaos_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("chaos")


@pytest.fixture(scope="session")
async def stack(chaos_home: Path) -> AsyncIterator[Stack]:
    # 50 concurrent decisions reach the workflow itself rather than the
    # server's default cap of 10 in-flight Updates per workflow.
    temporal = TemporalServer(
        chaos_home / "temporal",
        extra_args=["--dynamic-config-value", "history.maxInFlightUpdates=100"],
    )
    sandbox = SandboxProcess(chaos_home / "om")
    temporal.start()
    admin = sandbox.start()
    env = om_env(
        temporal.address,
        sandbox.home,
        OM_LICENSE_SERVICE__TIMEOUT_SECONDS=LICENSE_TIMEOUT,
        OM_LICENSE_RECHECK_INTERVAL="2s",
        OM_LOG_LEVEL="WARNING",
    )
    worker = WorkerProcess(env, chaos_home / "worker.log")
    worker.start()
    settings = Settings(
        home=sandbox.home,
        temporal_address=temporal.address,
        task_queue=env["OM_TASK_QUEUE"],
        license_recheck_interval=timedelta(seconds=2),
        cover_business_days=0,
    )
    client = await connect(settings)
    try:
        yield Stack(temporal, sandbox, admin, worker, Approvals(client, settings))
    finally:
        worker.stop()
        sandbox.stop()
        temporal.stop()
