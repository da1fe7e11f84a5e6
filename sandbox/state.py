"""What the sandbox's servers share: the store, the tokens and the armed faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.faults import Faults
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


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (Salesforce also says OAuth)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None
