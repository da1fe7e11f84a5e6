"""A real OpenID provider for the sign-in tests: `oidc-provider-mock` (PyPI).

It serves discovery, an authorization endpoint with a form where the test
(or the browser) names who signs in, a token endpoint that issues RS256 ID
tokens signed by its own key (published at its JWKS), userinfo and
end-session. Any client id and secret are accepted, and its issuer is the
host the request used: `http://localhost:<port>` here, so asking it through
`http://127.0.0.1:<port>` yields tokens of another issuer, signed by the
same key (the wrong-issuer case). Its access tokens are opaque; its ID tokens
are the JWTs the API tests present, with `aud` the client id they were
issued to.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from loadtest.ports import free_port


@dataclass
class Provider:
    """A running provider: its issuer URL and how to talk to it as a test."""

    issuer: str
    port: int

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """The claims the provider will vouch for when `sub` signs in."""
        answer = httpx.put(f"{self.issuer}/users/{quote(sub, safe='')}", json=claims, timeout=10)
        assert answer.status_code == 204, answer.text

    def id_token(
        self, sub: str, client_id: str, base: str | None = None, scope: str = "openid email profile"
    ) -> str:
        """A signed JWT for `sub`, from the real code flow (authorize, then
        token) as client `client_id`; `base` asks another host name for it."""
        base = base or self.issuer
        redirect = "http://127.0.0.1:1/callback"
        params = {
            "client_id": client_id,
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": scope,
            "nonce": secrets.token_urlsafe(8),
            "state": secrets.token_urlsafe(8),
        }
        authorized = httpx.post(
            f"{base}/oauth2/authorize", params=params, data={"sub": sub}, timeout=10
        )
        assert authorized.status_code == 302, authorized.text
        code = parse_qs(urlsplit(authorized.headers["location"]).query)["code"][0]
        token = httpx.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": client_id,
                "client_secret": "test-secret",
            },
            timeout=10,
        )
        assert token.status_code == 200, token.text
        id_token: str = token.json()["id_token"]
        return id_token


@contextmanager
def oidc_provider(
    port: int | None = None, token_lifetime: timedelta = timedelta(hours=1)
) -> Iterator[Provider]:
    """The provider on a free loopback port (or `port`, to restart one with a new key)."""
    import oidc_provider_mock

    chosen = port or free_port()
    with oidc_provider_mock.run_server_in_thread(
        port=chosen, require_nonce=True, access_token_max_age=token_lifetime
    ) as server:
        yield Provider(issuer=f"http://localhost:{server.server_port}", port=server.server_port)
