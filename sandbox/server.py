"""Run the three stand-ins (Salesforce over TLS, support desk, license
service with the chat webhook and the admin API) in background threads of
one process.

The same `Sandbox` serves a pytest fixture (ports 0: free ports picked by
the OS) and the long-running `python -m sandbox` / `om sandbox` (ports
8443, 8081, 8082). On start it writes `<home>/sandbox.json`, which
`om.settings.Settings.with_sandbox_defaults` reads, so workers and the
`om` command find it with nothing to configure. Tokens, the CA and all
records live under `home` and survive a restart.
"""

from __future__ import annotations

import json
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from activities.salesforce_mapping import ObjectsMapping, resolve_mapping
from sandbox.chat import WEBHOOK_PATH
from sandbox.license_service import create_license_app
from sandbox.oauth import ensure_connected_app, new_consumer_key
from sandbox.salesforce import create_salesforce_app
from sandbox.seed import load_demo_seed, parse_renewal_seed, parse_seed
from sandbox.state import SandboxState
from sandbox.store import Store
from sandbox.support_desk import create_support_desk_app
from sandbox.tls import TlsFiles, ensure_tls

DEFAULT_SALESFORCE_PORT = 8443
DEFAULT_SUPPORT_DESK_PORT = 8081
DEFAULT_LICENSE_PORT = 8082
INFO_FILE = "sandbox.json"
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


SESSION_FILE = "salesforce.session"


class SandboxInfo(BaseModel):
    """Where the running sandbox answers: `sandbox.json`'s keys, plus `home`."""

    salesforce_instance_url: str
    ca_file: str
    session_id: str
    support_desk_url: str
    support_desk_token: str
    license_service_url: str
    license_service_token: str
    notifications_url: str
    notifications_token: str
    admin_url: str
    home: Path
    salesforce_session_file: str | None = None
    """The Salesforce API's current session, rewritten when the admin API
    rotates it; `session_id` stays the admin API's token."""
    jwt_consumer_key: str | None = None
    """The connected app's consumer key for the JWT bearer flow (`sandbox.oauth`)."""
    jwt_username: str | None = None
    jwt_privatekey_file: str | None = None
    jwt_certificate_file: str | None = None

    def info_json(self) -> dict[str, str]:
        """Exactly the keys written to sandbox.json."""
        return self.model_dump(mode="json", exclude={"home"})

    @classmethod
    def read(cls, home: Path) -> SandboxInfo:
        """The info a sandbox wrote under `home` (OSError / ValueError if none)."""
        return cls(**json.loads((home / INFO_FILE).read_text()), home=home)


class SandboxStartError(RuntimeError):
    """The sandbox could not start (a port in use, a server that did not come up)."""


class _ServerThread:
    """One uvicorn server on an already bound socket, in a daemon thread."""

    def __init__(
        self, name: str, app: FastAPI, sock: socket.socket, tls: TlsFiles | None = None
    ) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
        )
        self.name = name
        self.sock = sock
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def wait_started(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SandboxStartError(f"the sandbox {self.name} server did not start")
            time.sleep(0.01)

    def request_stop(self) -> None:
        self.server.should_exit = True

    def stop(self, grace: float = 0.3) -> None:
        self.server.should_exit = True
        self.thread.join(grace)
        # Idle TLS keep-alive connections would hold a graceful shutdown for
        # seconds (the client never answers close_notify): in-flight requests
        # had their moment, the rest is cut.
        self.server.force_exit = True
        self.thread.join(5)
        self.sock.close()


def _bind(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that
    # say so, and without it every response with a body waits ~40 ms for a
    # delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SandboxStartError(
            f"cannot start the sandbox {what} on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    sock.listen(128)
    return sock


class Sandbox:
    """Local Salesforce, support desk, license service and chat webhook, state
    under `home`.

    The admin API (`/__sandbox/...`) and the chat webhook (`/chat/webhook`)
    are served by the license service's server.
    """

    def __init__(
        self,
        home: Path,
        host: str = "127.0.0.1",
        salesforce_port: int = 0,
        support_desk_port: int = 0,
        license_port: int = 0,
        query_page_size: int = 2000,
        schema_changes: dict[str, str | None] | None = None,
        quote_mapping: ObjectsMapping | str = "standard_quote",
    ) -> None:
        self.home = Path(home)
        self.quote_mapping = resolve_mapping(quote_mapping)
        """How seeded opportunities are kept in objects (the quote object,
        Contacts, Files), beside the submission JSON: an org using that
        quoting tool."""
        self.schema_changes = dict(schema_changes or {})
        """Describe differences from the shipped metadata ("Object.Field" ->
        type, or None for a missing field): an org not fully deployed."""
        self.query_page_size = query_page_size
        self.host = host
        self.ports = {
            "salesforce": salesforce_port,
            "support_desk": support_desk_port,
            "license": license_port,
        }
        self._servers: list[_ServerThread] = []
        self._state: SandboxState | None = None
        self.info: SandboxInfo | None = None

    @property
    def state(self) -> SandboxState:
        if self._state is None:
            raise RuntimeError("the sandbox is not started")
        return self._state

    def start(self) -> SandboxInfo:
        """Start every server, write `home/sandbox.json` and return what it holds."""
        if self.info is not None:
            return self.info
        self.home.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(self.home)
        store = Store(self.home / "sandbox.db", mapping=self.quote_mapping)
        store.ensure_objects()
        state = SandboxState(
            store=store,
            session_id=store.meta(
                "session_id", lambda: "00D5e0000000SBX!" + secrets.token_urlsafe(32)
            ),
            support_desk_token=store.meta(
                "support_desk_token", lambda: "desk-" + secrets.token_urlsafe(24)
            ),
            license_service_token=store.meta(
                "license_service_token", lambda: "lic-" + secrets.token_urlsafe(24)
            ),
            notifications_token=store.meta(
                "notifications_token", lambda: "chat-" + secrets.token_urlsafe(24)
            ),
            query_page_size=self.query_page_size,
            schema_changes=self.schema_changes,
            session_file=self.home / SESSION_FILE,
        )
        state.salesforce_session = store.meta("salesforce_session", lambda: state.session_id)
        state.connected_app = ensure_connected_app(
            self.home, store.meta("jwt_consumer_key", new_consumer_key)
        )
        state.write_session_file()
        sockets: list[socket.socket] = []
        try:
            for what, port in self.ports.items():
                sockets.append(_bind(self.host, port, what))
        except SandboxStartError:
            for sock in sockets:
                sock.close()
            store.close()
            raise
        url_host = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        if ":" in url_host:
            url_host = f"[{url_host}]"
        sf_port, desk_port, license_port = (s.getsockname()[1] for s in sockets)
        desk_url = f"http://{url_host}:{desk_port}"
        state.instance_url = f"https://{url_host}:{sf_port}"
        license_url = f"http://{url_host}:{license_port}"
        self._servers = [
            _ServerThread("salesforce", create_salesforce_app(state), sockets[0], tls),
            _ServerThread("support desk", create_support_desk_app(state, desk_url), sockets[1]),
            _ServerThread("license service", create_license_app(state), sockets[2]),
        ]
        self._state = state
        for server in self._servers:
            server.start()
        try:
            for server in self._servers:
                server.wait_started()
        except SandboxStartError:
            self.stop()
            raise
        self.info = SandboxInfo(
            salesforce_instance_url=state.instance_url,
            ca_file=str(tls.ca_file.resolve()),
            session_id=state.session_id,
            support_desk_url=desk_url,
            support_desk_token=state.support_desk_token,
            license_service_url=license_url,
            license_service_token=state.license_service_token,
            notifications_url=f"{license_url}{WEBHOOK_PATH}",
            notifications_token=state.notifications_token,
            admin_url=f"{license_url}/__sandbox",
            home=self.home,
            salesforce_session_file=str((self.home / SESSION_FILE).resolve()),
            jwt_consumer_key=state.connected_app.consumer_key,
            jwt_username=state.connected_app.username,
            jwt_privatekey_file=str(state.connected_app.privatekey_file.resolve()),
            jwt_certificate_file=str(state.connected_app.certificate_file.resolve()),
        )
        target = self.home / INFO_FILE
        partial = target.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self.info.info_json(), indent=2) + "\n")
        partial.replace(target)
        return self.info

    def stop(self) -> None:
        """Stop the servers and close the database; sandbox.json stays for the next start."""
        for server in self._servers:
            server.request_stop()
        deadline = time.monotonic() + 0.3
        for server in self._servers:
            server.stop(grace=max(0.0, deadline - time.monotonic()))
        self._servers = []
        if self._state is not None:
            self._state.store.close()
            self._state = None
        self.info = None

    def seed(self, payload: Any) -> list[str]:
        """Seed in-process with the admin endpoint's rules (`SeedError` if invalid)."""
        store = self.state.store
        opportunities, delivered = parse_seed(payload, store.known_opportunities)
        store.seed(opportunities, delivered, parse_renewal_seed(payload, store.clock()))
        return [o.id for o in opportunities]

    def seed_demo(self) -> list[str]:
        """Seed `sandbox/demo_seed.json` (upsert: seeded records return to their
        submitted state)."""
        return self.seed(load_demo_seed())

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def run_sandbox(
    home: Path,
    host: str = "127.0.0.1",
    salesforce_port: int = DEFAULT_SALESFORCE_PORT,
    support_desk_port: int = DEFAULT_SUPPORT_DESK_PORT,
    license_port: int = DEFAULT_LICENSE_PORT,
    seed_demo: bool = True,
    on_ready: Callable[[SandboxInfo, list[str]], None] | None = None,
    schema_changes: dict[str, str | None] | None = None,
    quote_mapping: ObjectsMapping | str = "standard_quote",
) -> None:
    """Run in the foreground until SIGINT or SIGTERM. An empty sandbox gets the
    demo data when `seed_demo`; `on_ready(info, seeded_ids)` announces it.
    Opportunities are kept in objects through `quote_mapping`."""
    sandbox = Sandbox(
        home,
        host,
        salesforce_port,
        support_desk_port,
        license_port,
        schema_changes=schema_changes,
        quote_mapping=quote_mapping,
    )
    info = sandbox.start()
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        seeded: list[str] = []
        if seed_demo and sandbox.state.store.count("Opportunity") == 0:
            seeded = sandbox.seed_demo()
        if on_ready is not None:
            on_ready(info, seeded)
        while not stopping.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sandbox.stop()
