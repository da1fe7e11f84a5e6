"""`om dev` (what `make run` runs) after its own crash, with real processes.

`om dev` is killed with SIGKILL, its whole process group, while its demo
submission is in flight. The Temporal server it started lives in a session
of its own and survives; the next `om dev` on the same home must recognise
it from `<home>/dev-processes.json`, stop it, start afresh and bring every
demo workflow to where the demo drives it (Order Management review, CRM
7-Closing / In Progress). A process it did not start, even one at a
recorded pid, is never signalled; a foreign server on its port gets the
plain refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from temporalio.client import Client

from cli.dev_processes import DevProcesses, RecordedProcess, read_record, write_record
from domain.names import APPROVAL_WORKFLOWS_QUERY
from loadtest.ports import free_port
from om.approvals import Approvals
from om.client import connect
from om.settings import Settings
from sandbox.client import SandboxAdminClient
from sandbox.seed import load_demo_seed
from workflows.opportunity_approval import _TIMEOUT

OM = str(Path(sys.executable).parent / "om")
# The workflow's start-to-close timeout of its CRM and chat activities.
ACTIVITY_TIMEOUT = _TIMEOUT.total_seconds()
LEFTOVER_LINE = re.compile(
    r"^om dev: stopped the Temporal server \(pid (\d+)\) left by an earlier run "
    r"that did not stop cleanly$",
    re.MULTILINE,
)


def _dev_env(home: Path) -> dict[str, str]:
    """`om dev` on `home` with every port free (Temporal headless)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OM_", "TEMPORAL_"))}
    env.update(
        OM_HOME=str(home),
        OM_DEV_PORTS__TEMPORAL=str(free_port()),
        OM_DEV_PORTS__TEMPORAL_UI="0",
        OM_DEV_PORTS__API=str(free_port()),
        OM_DEV_PORTS__SALESFORCE=str(free_port()),
        OM_DEV_PORTS__SUPPORT_DESK=str(free_port()),
        OM_DEV_PORTS__LICENSE=str(free_port()),
    )
    return env


class DevRun:
    """One `om dev` process in a process group of its own, output in a file."""

    def __init__(self, env: dict[str, str], out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [OM, "dev"],
            env=env,
            stdout=out.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "orchestrator is up" not in self.text():
            assert self.process.poll() is None, f"om dev exited:\n{self.text()}"
            assert time.monotonic() < deadline, f"om dev not up in {timeout} s:\n{self.text()}"
            time.sleep(0.2)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """Ctrl-C, as a person would; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.kill_group()
        return self.process.returncode


@pytest.fixture
def servers_left() -> Iterator[list[RecordedProcess]]:
    """Recorded Temporal servers, killed after the test if a failure left them."""
    seen: list[RecordedProcess] = []
    yield seen
    for recorded in seen:
        process = recorded.find()
        if process is not None:
            process.kill()
            continue
        # Not recognised (the failure under test): its command line, which
        # names the test's home, still finds it.
        for other in psutil.process_iter(["cmdline"]):
            if other.info["cmdline"] == recorded.cmdline:
                with contextlib.suppress(psutil.NoSuchProcess):
                    other.kill()


async def _first_workflow_started(address: str, timeout: float = 60) -> Client:
    deadline = time.monotonic() + timeout
    client = None
    while True:
        assert time.monotonic() < deadline, "no demo workflow started"
        try:
            client = client or await Client.connect(address)
            if (await client.count_workflows("WorkflowType='OpportunityApprovalWorkflow'")).count:
                return client
        except RuntimeError:
            pass  # the server is still starting
        await asyncio.sleep(0.05)


async def _unfinished(approvals: Approvals, admin: SandboxAdminClient, ids: list[str]) -> list[str]:
    """Demo opportunities not (yet) where the demo drives them: Order
    Management review with no side effect pending, intake recorded once, and
    the CRM showing the submission."""
    left = []
    for opportunity_id in ids:
        status = await approvals.status(opportunity_id)
        record = admin.opportunity(opportunity_id)
        submitted = [h for h in status.history if h.action == "submitted"]
        if not (
            status.stage == "om_review"
            and status.pending_effects == 0
            and status.sla_deadline is not None
            and len(submitted) == 1
            and record["StageName"] == "7-Closing"
            and record["Approval_Status__c"] == "In Progress"
        ):
            left.append(f"{opportunity_id}: {status.stage}, CRM {record['StageName']}")
    return left


async def test_om_dev_killed_mid_demo_stops_its_leftover_server_and_finishes_every_workflow(
    tmp_path: Path, servers_left: list[RecordedProcess]
) -> None:
    home = tmp_path / "home"
    env = _dev_env(home)
    address = f"127.0.0.1:{env['OM_DEV_PORTS__TEMPORAL']}"

    first = DevRun(env, tmp_path / "first.out")
    try:
        await _first_workflow_started(address)
        record = read_record(home)
        assert record is not None and len(record.children) == 1, (record, first.text())
        server = record.children[0]
        servers_left.append(server)
    finally:
        first.kill_group()  # mid-submission: the demo's workflows are in flight
        _kill_servers_on(home, unless=servers_left)
    killed_at = time.monotonic()
    assert server.find() is not None, (
        "the Temporal server should outlive a killed om dev",
        server,
        _servers_on(home),
        first.text(),
    )

    second = DevRun(env, tmp_path / "second.out")
    try:
        second.wait_up()
        leftover = LEFTOVER_LINE.findall(second.text())
        assert leftover == [str(server.pid)], second.text()
        assert server.find() is None
        after = read_record(home)
        assert after is not None and after.children[0].pid != server.pid
        servers_left.append(after.children[0])

        settings = Settings(home=home, temporal_address=address).with_sandbox_defaults()
        approvals = Approvals(await connect(settings, serve_metrics=False), settings)
        admin = SandboxAdminClient.from_home(home)
        ids = [o["id"] for o in load_demo_seed()["opportunities"]]
        # An activity the killed worker was running is retried once its
        # start-to-close timeout has passed: Temporal cannot tell a
        # dead worker from a slow one.
        deadline = killed_at + ACTIVITY_TIMEOUT + 25
        while left := await _unfinished(approvals, admin, ids):
            assert time.monotonic() < deadline, f"{len(left)} not finished: {left[:5]}"
            await asyncio.sleep(0.5)
        assert not (home / "demo-pending").exists()
    finally:
        code = second.stop()
    assert code == 0, second.text()
    assert read_record(home) is None, "a clean stop forgets what it started"
    assert after.children[0].find() is None


def _kill_recorded_servers(home: Path) -> None:
    """After a failure that let `om dev` start: stop the server it recorded."""
    record = read_record(home)
    for child in record.children if record else []:
        process = child.find()
        if process is not None and process.pid != os.getpid():
            process.kill()


def _servers_on(home: Path) -> list[dict[str, object]]:
    """Live Temporal servers whose command line names `home` (what a record
    should match: pid, start time, command line)."""
    found = []
    for process in psutil.process_iter(["pid", "create_time", "cmdline"]):
        if any(str(home) in arg for arg in process.info["cmdline"] or []):
            found.append(process.info)
    return found


def _kill_servers_on(home: Path, unless: list[RecordedProcess]) -> None:
    """After a failure before the test took charge of its server: kill every
    server on `home` so none outlives the test."""
    if unless:
        return
    for info in _servers_on(home):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(int(info["pid"])).kill()  # type: ignore[call-overload]


def _listener(port: int) -> subprocess.Popen[bytes]:
    """A process that is not `om dev`'s, holding `port` open."""
    code = (
        "import socket, time\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port})); s.listen(); print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    return process


def test_foreign_server_on_the_port_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A record naming the foreign process's pid (as after pid reuse) with
    another start time, or its start time with another command line, does
    not make it ours: it is not signalled and `om dev` refuses the port."""
    home = tmp_path / "home"
    home.mkdir()
    env = _dev_env(home)
    port = int(env["OM_DEV_PORTS__TEMPORAL"])
    foreign = _listener(port)
    try:
        real = RecordedProcess.of(foreign.pid, "Temporal server", [port])
        write_record(
            home,
            DevProcesses(
                home=str(home),
                owner=RecordedProcess(role="om dev", pid=foreign.pid, create_time=1.0, cmdline=[]),
                children=[
                    real.model_copy(update={"create_time": real.create_time - 60}),
                    real.model_copy(update={"cmdline": [*real.cmdline[:-1], "other"]}),
                ],
            ),
        )
        run = subprocess.run([OM, "dev"], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1
        assert run.stderr.strip().splitlines() == [
            f"error: port {port} is in use: is another `make run` or Temporal server running?"
        ]
        assert "left by an earlier run" not in run.stdout
        assert foreign.poll() is None, "a process that is not om dev's was signalled"
        assert psutil.Process(foreign.pid).status() != psutil.STATUS_ZOMBIE
    finally:
        foreign.kill()
        foreign.wait()
        _kill_recorded_servers(home)


def test_second_om_dev_on_a_home_in_use_is_refused(tmp_path: Path) -> None:
    """The record's owner still running means its server is in use, not
    left over: nothing is stopped, one line says why."""
    home = tmp_path / "home"
    home.mkdir()
    env = _dev_env(home)
    owner = _listener(free_port())
    try:
        record = DevProcesses(
            home=str(home),
            owner=RecordedProcess.of(owner.pid, "om dev"),
            children=[RecordedProcess.of(owner.pid, "Temporal server")],
        )
        write_record(home, record)
        run = subprocess.run([OM, "dev"], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1
        assert run.stderr.strip().splitlines() == [
            f"error: another `om dev` (pid {owner.pid}) is running on {home.resolve()}: stop it "
            "first (Ctrl-C in its terminal), or set OM_HOME to another folder"
        ]
        assert owner.poll() is None
        assert read_record(home) == record
    finally:
        owner.kill()
        owner.wait()
        _kill_recorded_servers(home)


async def _running_approvals(address: str, expected: int, timeout: float = 30) -> int:
    """Running approval workflows once the server's visibility counts
    `expected` of them (it is updated just after each start)."""
    client = await Client.connect(address)
    deadline = time.monotonic() + timeout
    while True:
        counted = (
            await client.count_workflows(
                f"{APPROVAL_WORKFLOWS_QUERY} AND ExecutionStatus='Running'"
            )
        ).count
        if counted == expected or time.monotonic() > deadline:
            return counted
        await asyncio.sleep(0.2)


async def test_ctrl_c_stops_without_a_traceback_and_says_what_resumes(tmp_path: Path) -> None:
    """Ctrl-C is the ordinary way to stop `om dev`: exit 0, no traceback,
    and a count of the work the next start picks up, which it names."""
    home = tmp_path / "home"
    env = _dev_env(home)
    address = f"127.0.0.1:{env['OM_DEV_PORTS__TEMPORAL']}"
    demo = len(load_demo_seed()["opportunities"])

    first = DevRun(env, tmp_path / "first.out")
    try:
        first.wait_up()
        assert await _running_approvals(address, demo) == demo
    finally:
        code = first.stop()
    output = first.text()
    assert code == 0, output
    assert "Traceback" not in output and "CancelledError" not in output, output
    assert output.rstrip().splitlines()[-1] == (
        f"om dev: stopped; {demo} approval workflows in flight resume on the next start "
        "(`make run`)"
    )
    assert "resuming" not in output  # a new home has nothing to resume

    second = DevRun(env, tmp_path / "second.out")
    try:
        second.wait_up()
    finally:
        code = second.stop()
    output = second.text()
    assert code == 0 and "Traceback" not in output, output
    assert f"om dev: resuming {demo} approval workflows in flight\n" in output
    assert "submitted" not in output  # the demo was submitted by the first start
    assert read_record(home) is None
