"""The whole system as separate processes on one machine, each of which can
be stopped, killed and started again: the Temporal dev server on its SQLite
file, the sandbox (`python -m sandbox`) and `om worker` processes.

The load benchmark measures them (their PIDs give RSS and CPU time); the
chaos suite kills them. Processes are real ones so a SIGKILL is what an
operator would see: no in-process shortcut survives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cli.dev import start_temporal, stop_process
from loadtest.ports import free_port
from sandbox.client import SandboxAdminClient

OM_BIN = str(Path(sys.executable).parent / "om")


@dataclass
class TemporalServer:
    """A dev server that can be stopped and started again on the same file and port."""

    folder: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = start_temporal(
            self.folder / "temporal.db",
            self.folder / "temporal.log",
            self.port,
            ui_port=None,
            extra_args=self.extra_args,
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class SandboxProcess:
    """`python -m sandbox --no-demo` on free ports, state under `home`."""

    home: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> SandboxAdminClient:
        self.home.mkdir(parents=True, exist_ok=True)
        info_file = self.home / "sandbox.json"
        info_file.unlink(missing_ok=True)
        ports = [str(free_port()) for _ in range(3)]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "--no-demo",
                "--home",
                str(self.home),
                "--salesforce-port",
                ports[0],
                "--support-desk-port",
                ports[1],
                "--license-port",
                ports[2],
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "sandbox.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not info_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {self.home / 'sandbox.log'}")
            time.sleep(0.1)
        info = json.loads(info_file.read_text())
        return SandboxAdminClient(info["admin_url"], info["session_id"])

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class WorkerProcess:
    """One `om worker` process; `kill()` is SIGKILL, no goodbye."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [OM_BIN, "worker"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def om_env(temporal_address: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `om` process on this stack (no inherited OM_ settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        OM_HOME=str(home),
        OM_TASK_QUEUE=f"load-{uuid.uuid4().hex[:8]}",
        OM_LICENSE_RECHECK_INTERVAL="2s",
        OM_COVER_BUSINESS_DAYS="0",
    )
    env.update(extra)
    return env
