"""`om` commands while a part of the system is down, with real processes.

Each names the part, its address and what to do, in one line, exit 1, no
transport dump. A Temporal server killed while a decision waits for its
answer: the command says the answer was lost and how to send it again;
sent again with the printed Update id, the decision is recorded once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from cli.sandbox import sandbox_app
from loadtest.ports import free_port
from loadtest.stack import TemporalServer
from sandbox.server import SandboxInfo
from tests.cli_runner import in_process_cli

OM = str(Path(sys.executable).parent / "om")
TEMPORAL_WHAT_TO_DO = "is `make run` (or `om dev`) running? Set TEMPORAL_ADDRESS to point elsewhere"
LOST_DECISION = re.compile(
    r"^error: the answer from Temporal at (\S+) was lost \(the connection broke or timed "
    r"out\), so the decision may or may not have been recorded\. It is safe to send it "
    r"again: repeat the command with --update-id ([0-9a-f]{32}) \(Temporal answers a "
    r"repeated Update id with the first outcome, never applying it twice\)$"
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(extra)
    return env


def om(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OM, *args], env=env, capture_output=True, text=True, timeout=90)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (nothing else printed)."""
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and result.stdout == "", result
    assert "tonic" not in lines[0] and "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("status", "0065e00000DEMO01"),
        ("queue",),
        ("approve", "0065e00000DEMO01", "--as", "om.amer@example.com"),
        ("submit", "0065e00000DEMO01"),
        ("worker",),
    ],
)
def test_temporal_down_is_one_line_naming_it_its_address_and_what_to_do(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    address = f"127.0.0.1:{free_port()}"  # closed once free_port returns
    line = one_line_error(om(_env(TEMPORAL_ADDRESS=address, OM_HOME=str(tmp_path)), *args))
    assert line == f"error: cannot reach Temporal at {address} (connection refused): " + (
        TEMPORAL_WHAT_TO_DO
    )


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[TemporalServer]:
    server = TemporalServer(tmp_path / "temporal")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Worker:
    """`om worker` as its own process, so it can be stopped and started."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [OM, "worker"], env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None


def _status(env: dict[str, str], opportunity_id: str) -> dict[str, Any]:
    result = om(env, "status", opportunity_id)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _wait_for(env: dict[str, str], opportunity_id: str, stage: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status = _status(env, opportunity_id)
        if status["stage"] == stage and status["pending_effects"] == 0:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def _connected(pid: int, port: int, timeout: float = 30) -> None:
    """Wait until process `pid` holds a connection to `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(
            c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
            for c in psutil.Process(pid).net_connections()
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never connected to port {port}")


def test_decision_cut_off_by_a_dying_server_says_lost_and_resends_once(
    tmp_path: Path, temporal: TemporalServer, sandbox: SandboxInfo, seed_opportunity
) -> None:
    env = _env(
        TEMPORAL_ADDRESS=temporal.address,
        OM_HOME=str(sandbox.home),
        OM_TASK_QUEUE=f"parts-down-{uuid.uuid4().hex[:8]}",
    )
    opportunity_id = seed_opportunity()
    approver = ("--as", "om.amer@example.com")  # the example account is in AMER
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    try:
        assert om(env, "submit", opportunity_id).returncode == 0
        _wait_for(env, opportunity_id, "om_review")
        worker.stop()  # no worker: the decision waits at the server for its answer

        approve = subprocess.Popen(
            [OM, "approve", opportunity_id, *approver],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _connected(approve.pid, temporal.port)
        time.sleep(1.0)  # the Update is sent right after connecting
        assert temporal.process is not None
        temporal.process.kill()
        temporal.process.wait()
        temporal.process = None
        stdout, stderr = approve.communicate(timeout=60)
        lost = subprocess.CompletedProcess(approve.args, approve.returncode, stdout, stderr)
        match = LOST_DECISION.match(one_line_error(lost))
        assert match, stderr
        assert match.group(1) == temporal.address
        update_id = match.group(2)

        temporal.start()
        worker.start()
        resent = om(env, "approve", opportunity_id, *approver, "--update-id", update_id)
        assert resent.returncode == 0, resent.stderr
        assert (
            resent.stdout
            == f"{opportunity_id}: Order Management approved (round 1); waiting for Billing\n"
        )
        again = om(env, "approve", opportunity_id, *approver, "--update-id", update_id)
        assert again.returncode == 0 and again.stdout == resent.stdout

        status = _wait_for(env, opportunity_id, "finance_review")
        approvals = [h for h in status["history"] if h["action"] == "finance_review"]
        assert len(approvals) == 1, status["history"]
    finally:
        worker.stop()


def test_salesforce_down_is_one_line_naming_it(
    tmp_path: Path, temporal: TemporalServer, sandbox: SandboxInfo
) -> None:
    salesforce = f"https://127.0.0.1:{free_port()}"
    env = _env(
        TEMPORAL_ADDRESS=temporal.address,
        OM_HOME=str(sandbox.home),
        OM_SALESFORCE__INSTANCE_URL=salesforce,
        OM_SALESFORCE__SESSION_ID="x",
    )
    for args in (("submit", "0065e00000DEMO01"), ("intake", "poll")):
        assert one_line_error(om(env, *args)) == (
            f"error: cannot reach Salesforce at {salesforce}: is `make run` (or `om sandbox`) "
            "running? Set OM_SALESFORCE__INSTANCE_URL to point elsewhere"
        )


def _sandbox_cli(home: Path, admin_url: str):  # type: ignore[no-untyped-def]
    (home / "sandbox.json").write_text(json.dumps({"admin_url": admin_url, "session_id": "x"}))
    return in_process_cli(
        lambda app: app.add_typer(sandbox_app, name="sandbox"), _env(OM_HOME=str(home))
    )


def test_sandbox_down_is_one_line_naming_it_and_where_its_address_came_from(
    tmp_path: Path,
) -> None:
    admin_url = f"http://127.0.0.1:{free_port()}/__sandbox"
    om_sandbox = _sandbox_cli(tmp_path, admin_url)
    for args in (("show", "0065e00000DEMO01"), ("deliver-license", "0065e00000DEMO01")):
        result = om_sandbox("sandbox", *args)
        assert result.exit_code == 1
        assert result.output.strip() == (
            f"error: cannot reach the sandbox at {admin_url} (connection refused): is "
            "`make run` (or `om sandbox`) running? (address from "
            f"{tmp_path / 'sandbox.json'}; OM_HOME picks the home)"
        )


@pytest.fixture
def hangs_up() -> Iterator[int]:
    """A port where a server accepts each connection, reads the request and
    closes without answering: a sandbox that died mid-request."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_sandbox_gone_mid_request_says_the_answer_was_lost_and_safe_to_resend(
    tmp_path: Path, hangs_up: int
) -> None:
    admin_url = f"http://127.0.0.1:{hangs_up}/__sandbox"
    result = _sandbox_cli(tmp_path, admin_url)("sandbox", "deliver-license", "0065e00000DEMO01")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: the answer from the sandbox at {admin_url} was lost (the connection broke "
        "or timed out): is `make run` (or `om sandbox`) still running? Every `om sandbox` "
        "command is safe to send again once it is back (seeding upserts; a delivered "
        "license keeps its first delivery)"
    )


def test_unusable_connection_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    env = _env(OM_HOME=str(tmp_path), OM_TEMPORAL_CONNECTION__API_KEY_FILE=str(missing))
    assert one_line_error(om(env, "status", "0065e00000DEMO01")) == (
        f"error: temporal_connection.api_key_file: cannot read {missing} "
        "(No such file or directory)"
    )
