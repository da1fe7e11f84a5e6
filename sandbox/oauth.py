"""The Salesforce stand-in's OAuth 2.0 JWT bearer flow.

    POST /services/oauth2/token   (form: grant_type, assertion)

A real org's connected app holds a certificate; the integration signs a JWT
with the matching private key and trades it for an access token. The
sandbox plays the connected app: on first start it makes a key pair and a
certificate under `<home>/jwt/` (the private key is what a real deployment
keeps in its secret store, the certificate is what an admin uploads to the
connected app), a consumer key, and one integration user. It verifies the
assertion the way Salesforce does:

- the signature (RS256) against the connected app's certificate;
- `iss` is the connected app's consumer key;
- `aud` is `https://login.salesforce.com`, `https://test.salesforce.com` or
  a My Domain login host (`https://<name>.my.salesforce.com`);
- `exp` is present and not past;
- `sub` is a known user: the integration user, or the Email of an active
  User record.

It answers `{"access_token", "instance_url", "id", "token_type", "scope",
"issued_at", "signature"}`, or Salesforce's own error body with status 400:
`{"error": "invalid_grant" | "invalid_client_id" | "unsupported_grant_type",
"error_description": ...}`. The access token is the Salesforce API's current
session, so rotating the session (the admin API) expires it like a real org
does and the next JWT grant gets the new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography import x509
from fastapi import Request
from fastapi.responses import JSONResponse

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/services/oauth2/token"
INTEGRATION_USERNAME = "om-integration@sandbox.example"
_AUDIENCE = re.compile(
    r"^https://(login|test|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.my)\.salesforce\.com/?$"
)


@dataclass(frozen=True)
class ConnectedApp:
    """The sandbox's connected app: who may sign in with which key."""

    consumer_key: str
    username: str
    privatekey_file: Path
    certificate_file: Path

    def public_key(self) -> Any:
        cert = x509.load_pem_x509_certificate(self.certificate_file.read_bytes())
        return cert.public_key()


def ensure_connected_app(home: Path, consumer_key: str) -> ConnectedApp:
    """The key pair and certificate under `home/jwt`, made on first use."""
    folder = home / "jwt"
    app = ConnectedApp(
        consumer_key=consumer_key,
        username=INTEGRATION_USERNAME,
        privatekey_file=folder / "integration.key",
        certificate_file=folder / "connected-app.crt",
    )
    if app.privatekey_file.exists() and app.certificate_file.exists():
        return app
    folder.mkdir(parents=True, exist_ok=True)
    # RS256, as Salesforce requires: an RSA key (trustme's default is ECDSA).
    ca = trustme.CA(organization_name="OM sandbox connected app")
    leaf = ca.issue_cert("om-integration", key_type=trustme.KeyType.RSA)
    app.privatekey_file.write_bytes(leaf.private_key_pem.bytes())
    app.privatekey_file.chmod(0o600)
    app.certificate_file.write_bytes(leaf.cert_chain_pems[0].bytes())
    return app


def new_consumer_key() -> str:
    """A connected app consumer key in Salesforce's shape (3MVG...)."""
    return "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "B")[:80]


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """Salesforce's OAuth error body."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class AssertionRefused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def verify_assertion(
    assertion: str, app: ConnectedApp, known_user: Any, now: float | None = None
) -> str:
    """The username (`sub`) of a valid assertion; `AssertionRefused` otherwise.
    `known_user(username) -> bool` says whether the org has that user."""
    try:
        claims = jwt.decode(
            assertion,
            app.public_key(),
            algorithms=["RS256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "require": ["iss", "sub", "aud", "exp"],
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise AssertionRefused("invalid_grant", f"invalid assertion: {exc}") from exc
    except jwt.InvalidSignatureError as exc:
        raise AssertionRefused("invalid_grant", "invalid assertion: signature invalid") from exc
    except jwt.PyJWTError as exc:
        raise AssertionRefused("invalid_grant", f"invalid assertion: {exc}") from exc
    if claims.get("iss") != app.consumer_key:
        raise AssertionRefused("invalid_client_id", "client identifier invalid")
    audience = claims.get("aud")
    if not isinstance(audience, str) or not _AUDIENCE.match(audience):
        raise AssertionRefused("invalid_grant", f"audience is invalid: {audience!r}")
    try:
        expires = float(claims["exp"])
    except (TypeError, ValueError):
        raise AssertionRefused("invalid_grant", "expiration is invalid") from None
    if expires <= (time.time() if now is None else now):
        raise AssertionRefused("invalid_grant", "expired authorization code")
    username = claims.get("sub")
    if not isinstance(username, str) or not known_user(username):
        raise AssertionRefused("invalid_grant", "user hasn't approved this consumer")
    return username


async def token_grant(
    request: Request, app: ConnectedApp, known_user: Any, session: str, instance_url: str
) -> JSONResponse:
    """The token endpoint's answer to `request` (form-encoded, as OAuth requires)."""
    form = {
        k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
    }
    grant = form.get("grant_type")
    if grant != JWT_GRANT:
        return oauth_error("unsupported_grant_type", "grant type not supported")
    assertion = form.get("assertion")
    if not assertion:
        return oauth_error("invalid_request", "assertion is missing")
    try:
        username = verify_assertion(assertion, app, known_user)
    except AssertionRefused as refused:
        return oauth_error(refused.error, refused.description)
    issued = str(int(time.time() * 1000))
    signature = base64.b64encode(
        hmac.new(
            app.consumer_key.encode(), (instance_url + issued).encode(), hashlib.sha256
        ).digest()
    ).decode()
    return JSONResponse(
        {
            "access_token": session,
            "scope": "api",
            "instance_url": instance_url,
            "id": f"{instance_url}/id/00D5e0000000SBX/{username}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
        }
    )
