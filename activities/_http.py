"""What the httpx adapters (support desk, license service) share: auth,
one client per call, and HTTP failures mapped to retryable or not."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import httpx

from activities.config import ServiceSettings
from activities.errors import (
    AdapterError,
    AuthenticationFailed,
    NotConfigured,
    RequestRejected,
    ServiceUnavailable,
)


class HttpService:
    """Base of a small JSON-over-HTTP client configured by `ServiceSettings`.

    A fresh `httpx.AsyncClient` per call keeps the adapter free of event
    loop affinity (activities, tests and the CLI each have their own loop);
    these services see a handful of calls per opportunity.
    """

    service = "service"
    setting_prefix = "OM_SERVICE"

    def __init__(
        self, settings: ServiceSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._ssl: ssl.SSLContext | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        """Built once: loading the CA bundle is most of a fresh client's cost."""
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    def _headers(self) -> dict[str, str]:
        s = self.settings
        if not s.token:
            return {}
        if s.email:
            # Zendesk API-token auth: basic "email/token:API_TOKEN".
            raw = f"{s.email}/token:{s.token}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {"Authorization": f"Bearer {s.token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        not_found: AdapterError | None = None,
        label: str | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send one request; return the response and its JSON body, or raise
        the adapter error its status means (`not_found` for a 404). `label`
        names the request in error messages instead of `method path`, for a
        path that is itself a secret (a chat webhook's)."""
        if not self.settings.url:
            raise NotConfigured(
                f"the {self.service} is not configured: set "
                f"{self.setting_prefix}__URL and {self.setting_prefix}__TOKEN, "
                "or start the sandbox (`om sandbox`)",
                service=self.service,
            )
        what = label or f"{method} {path}"
        try:
            async with httpx.AsyncClient(
                base_url=self.settings.url.rstrip("/"),
                timeout=self.settings.timeout_seconds,
                verify=self._ssl_context(),
                transport=self._transport,
            ) as client:
                response = await client.request(
                    method, path, json=json, headers={**self._headers(), **(headers or {})}
                )
        except httpx.TimeoutException as exc:
            raise ServiceUnavailable(
                f"the {self.service} timed out after {self.settings.timeout_seconds:g}s on {what}",
                service=self.service,
            ) from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(
                f"the {self.service} is unreachable on {what}: {exc or type(exc).__name__}",
                service=self.service,
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = response.text
        status = response.status_code
        if status < 400:
            return response, body
        detail = f"the {self.service} answered {status} on {what}: {str(body)[:300]}"
        if status == 404 and not_found is not None:
            raise not_found
        if status in (401, 403):
            raise AuthenticationFailed(detail, service=self.service, status=status)
        if status in (408, 425, 429) or status >= 500:
            raise ServiceUnavailable(detail, service=self.service, status=status)
        raise RequestRejected(detail, service=self.service, status=status)
