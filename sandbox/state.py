"""What the sandbox's servers share: the store, the tokens and the armed faults."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.bulk import BulkJobs
from sandbox.faults import Faults
from sandbox.oauth import ConnectedApp
from sandbox.store import Store


@dataclass
class SandboxState:
    store: Store
    session_id: str
    support_desk_token: str
    license_service_token: str
    notifications_token: str
    faults: Faults = field(default_factory=Faults)
    query_page_size: int = 2000
    """Records per SOQL answer before `done: false` and a `nextRecordsUrl`
    (Salesforce's default batch size); tests set it small to page for real."""
    query_cursors: dict[str, tuple[str, list[Any], int]] = field(default_factory=dict)
    """Open SOQL cursors: locator -> (sObject, the records still to send, totalSize)."""
    cursor_lock: threading.Lock = field(default_factory=threading.Lock)
    """Server threads open and consume cursors concurrently."""
    session_file: Path | None = None
    salesforce_session: str = ""
    """The session the Salesforce API accepts; starts as `session_id`, which
    stays the admin API's token when this one is rotated."""
    connected_app: ConnectedApp | None = None
    """The connected app the JWT bearer flow signs in through (None: no JWT)."""
    instance_url: str = ""
    """The Salesforce API's own address, answered as `instance_url` by the token endpoint."""
    token_requests: int = 0
    bulk_jobs: BulkJobs = field(default_factory=BulkJobs)
    """Bulk API 2.0 query jobs and their results (`sandbox.bulk`)."""
    api_calls: list[str] = field(default_factory=list)
    """"METHOD path?query" of every authorised REST API call, in order: the
    tests count what one opportunity costs."""
    schema_changes: dict[str, str | None] = field(default_factory=dict)
    """"Object.Field" -> the type describe answers, or None to leave it out:
    an org that lacks a shipped field or has it with another type."""
    """JWT grants answered (tests count sign-ins)."""

    def write_session_file(self) -> None:
        """Publish the current session where a token-refresh job would."""
        if self.session_file is None:
            return
        partial = self.session_file.with_suffix(".tmp")
        partial.write_text(self.salesforce_session + "\n")
        partial.replace(self.session_file)

    def rotate_salesforce_session(self) -> str:
        """Expire the Salesforce session and issue a new one, as an org does
        when a session times out or an admin revokes it."""
        self.salesforce_session = "00D5e0000000SBX!" + secrets.token_urlsafe(32)
        self.store.set_meta("salesforce_session", self.salesforce_session)
        self.write_session_file()
        return self.salesforce_session


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (Salesforce also says OAuth)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None
