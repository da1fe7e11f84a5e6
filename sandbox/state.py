"""What the sandbox's servers share: the store, the tokens and the armed faults."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (Salesforce also says OAuth)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None
