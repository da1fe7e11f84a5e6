"""A small client for the admin API of a running sandbox (`om sandbox ...`,
tests, `make run`). Errors carry one line a person can act on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx


class SandboxAdminError(Exception):
    """The admin API refused a request; `status` is its HTTP status."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class SandboxNotRunning(SandboxAdminError):
    """No sandbox answers where sandbox.json says it should: nothing was sent."""


class SandboxAnswerLost(SandboxAdminError):
    """The request reached the sandbox, then the connection broke or timed
    out before the answer came: it may or may not have been carried out."""


_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


class SandboxAdminClient:
    def __init__(
        self, admin_url: str, token: str, timeout: float = 30.0, info_file: Path | None = None
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.info_file = info_file
        """Where the address came from (named when the sandbox is unreachable)."""

    @classmethod
    def from_home(cls, home: Path) -> SandboxAdminClient:
        """The client for the sandbox that wrote `home/sandbox.json`."""
        info_file = home / "sandbox.json"
        try:
            info = json.loads(info_file.read_text())
            return cls(info["admin_url"], info["session_id"], info_file=info_file)
        except FileNotFoundError:
            raise SandboxNotRunning(
                f"cannot reach the sandbox: it is not running for home {home} ({info_file} "
                "does not exist): start `make run` (or `om sandbox`), or set OM_HOME to the "
                "home it runs in"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SandboxNotRunning(
                f"the sandbox is not running: {info_file} is unreadable ({exc})"
            ) from None

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        url = f"{self.admin_url}{path}"
        try:
            response = httpx.request(
                method,
                url,
                json=payload,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            reason = _ERRNO.sub("", str(exc)).lower() or type(exc).__name__
            where = f" (address from {self.info_file}; OM_HOME picks the home)"
            raise SandboxNotRunning(
                f"cannot reach the sandbox at {self.admin_url} ({reason}): is `make run` "
                f"(or `om sandbox`) running?{where if self.info_file else ''}"
            ) from None
        except httpx.TransportError:
            raise SandboxAnswerLost(
                f"the answer from the sandbox at {self.admin_url} was lost (the connection "
                "broke or timed out)"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise SandboxAdminError(
                str(detail or f"HTTP {response.status_code} from {url}"), response.status_code, body
            )
        return body

    def _object(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        """`_call` for the endpoints that answer a JSON object (all but DELETE /faults)."""
        body: dict[str, Any] = self._call(method, path, payload)
        return body

    def health(self) -> dict[str, Any]:
        return self._object("GET", "/health")

    def seed(self, payload: Any) -> dict[str, Any]:
        """Upsert a seed file's content; the whole seed is refused (422) if any item is bad."""
        return self._object("POST", "/seed", payload)

    def deliver_license(self, opportunity_id: str) -> dict[str, Any]:
        return self._object("POST", f"/licenses/{opportunity_id}/deliver")

    def opportunity(self, opportunity_id: str) -> dict[str, Any]:
        """The CRM record as stored, with account, owner, license, chatter,
        tickets and chat notifications."""
        return self._object("GET", f"/opportunities/{opportunity_id}")

    def opportunities(self, limit: int = 1000) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._object("GET", f"/opportunities?limit={limit}")[
            "opportunities"
        ]
        return rows

    def notifications(
        self, opportunity_id: str | None = None, channel: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Chat messages the webhook stored, newest last (filters combine)."""
        query = {"opportunity_id": opportunity_id, "channel": channel, "limit": limit}
        # urlencode: channel names start with "#", which would end a bare URL's path.
        params = urlencode({k: v for k, v in query.items() if v is not None})
        rows: list[dict[str, Any]] = self._object("GET", f"/notifications?{params}")[
            "notifications"
        ]
        return rows

    def set_faults(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Arm faults, e.g. `{"salesforce": {"status": 503, "count": 3}}` (see sandbox.faults)."""
        return self._object("POST", "/faults", plan)

    def rotate_salesforce_session(self) -> dict[str, Any]:
        """Expire the Salesforce session; the sandbox writes the new one to
        its session file (`salesforce_session_file` in sandbox.json)."""
        return self._object("POST", "/salesforce/rotate-session")

    def faults(self) -> dict[str, Any]:
        """The faults still armed, by service (a fault leaves once used up)."""
        return self._object("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")
