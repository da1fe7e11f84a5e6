"""The API's JWKS handling for tokens that name their key (`kid`), as Okta's
and Entra ID's do: the local OpenID provider of the browser tests signs
without a key id, so here a key set is served over real HTTP from this test
and its keys are swapped as a provider rotates them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.oidc import AccessTokens, InvalidAccessToken
from loadtest.ports import free_port
from om.identity import OidcSettings


class KeyServer:
    """Discovery and a JWKS on a loopback port; `keys` may change any time."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.keys: dict[str, Any] = {}
        self.jwks_fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": server.issuer,
                        "jwks_uri": server.issuer + "/jwks",
                    }
                elif self.path == "/jwks":
                    server.jwks_fetches += 1
                    body = {"keys": [server.public_jwk(kid) for kid in server.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key())
        )
        return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "om", "exp": now + 300, "iat": now, "email": "a@b.c"}
        return jwt.encode(
            {**body, **claims}, self.keys[kid], algorithm="RS256", headers={"kid": kid}
        )


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    server = KeyServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_a_new_key_id_is_fetched_once_and_made_up_ids_do_not_hammer_the_provider(keys):
    keys.add_key("2026-11")
    tokens = AccessTokens(OidcSettings(issuer=keys.issuer, client_id="om", jwks_cache_seconds=3600))
    assert tokens.claims(keys.token("2026-11"))["email"] == "a@b.c"
    assert keys.jwks_fetches == 1
    assert tokens.claims(keys.token("2026-11"))["iss"] == keys.issuer
    assert keys.jwks_fetches == 1  # cached

    keys.add_key("2026-12")  # the provider rotates: a new key signs from now on
    assert tokens.claims(keys.token("2026-12"))["email"] == "a@b.c"
    assert keys.jwks_fetches == 2

    made_up = keys.token("2026-12", email="x@y.z").split(".")
    header = jwt.utils.base64url_encode(json.dumps({"alg": "RS256", "kid": "nope"}).encode())
    forged = ".".join([header.decode(), *made_up[1:]])
    for _ in range(3):
        with pytest.raises(
            InvalidAccessToken, match="no key of the identity provider has key id 'nope'"
        ):
            tokens.claims(forged)
    assert keys.jwks_fetches == 2  # within 10 s of the last fetch: none more


def test_a_token_signed_by_a_key_not_in_the_set_is_refused(keys):
    keys.add_key("live")
    keys.add_key("retired")
    retired = keys.token("retired")
    del keys.keys["retired"]
    tokens = AccessTokens(OidcSettings(issuer=keys.issuer, client_id="om"))
    assert tokens.claims(keys.token("live"))
    with pytest.raises(InvalidAccessToken, match="key id 'retired'"):
        tokens.claims(retired)
