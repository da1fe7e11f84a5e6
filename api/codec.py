"""`POST /codec/decode` and `/codec/encode`: the codec server the Temporal UI speaks.

With payload encryption on, the UI only sees ciphertext; it sends payloads
here (JSON `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`) and
shows what comes back. Only people allowed to read histories (auditors and
Order Management), by roster token or OIDC access token as on the rest of
the API, get an answer.

The codec itself lives in `om.codec`, which the worker and the client
import too; this module is the HTTP face of it, kept here so the worker
process never loads FastAPI.

CORS is answered here rather than by app-wide middleware so including the
router changes nothing else in the app; preflights carry no token, so they
are answered without one.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from google.protobuf import json_format
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from temporalio.api.common.v1 import Payloads

from api.deps import current_user
from domain.policy import RosterUser
from om.codec import EncryptionCodec, encryption_settings
from om.settings import PayloadEncryption

CODEC_ROLES = frozenset({"auditor", "order_management"})

router = APIRouter(tags=["codec"])


def payload_codec(state: State) -> EncryptionCodec:
    """The app's codec (`state.payload_codec`), built from its settings on
    first use; 503 while encryption is off, as there is nothing to decode."""
    codec: EncryptionCodec | None = getattr(state, "payload_codec", None)
    if codec is None:
        config = encryption_settings(state.settings)
        if not config.enabled:
            raise HTTPException(503, "payload encryption is off: nothing to decode")
        codec = state.payload_codec = EncryptionCodec.from_settings(config)
    return codec


def _codec_user(request: Request) -> RosterUser:
    """The person of the bearer token (roster or OIDC), if their role may read histories."""
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    credentials = (
        HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
        if scheme.lower() == "bearer" and token
        else None
    )
    user = current_user(request, credentials)
    if str(user.role) not in CODEC_ROLES:
        raise HTTPException(
            403, f"role {user.role} may not decode payloads (auditor or order_management only)"
        )
    return user


def _cors_headers(request: Request, origins: Iterable[str]) -> dict[str, str]:
    origin = request.headers.get("Origin")
    if not origin or origin not in set(origins):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Namespace",
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _settings_of(request: Request) -> PayloadEncryption:
    return encryption_settings(request.app.state.settings)


async def _run(request: Request, decode: bool) -> Response:
    cors = _cors_headers(request, _settings_of(request).ui_origins)
    try:  # errors carry the CORS headers too, or the UI only sees "network error"
        # In a worker thread: an OIDC token may need the provider's keys fetched.
        await run_in_threadpool(_codec_user, request)
        active = payload_codec(request.app.state)
    except HTTPException as error:
        headers = {**(error.headers or {}), **cors}
        raise HTTPException(error.status_code, error.detail, headers) from None
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise HTTPException(
            422, f"not a codec request {{'payloads': [...]}}: {error}", cors
        ) from error
    try:
        done = (
            await active.decode(payloads.payloads)
            if decode
            else await active.encode(payloads.payloads)
        )
    except ValueError as error:
        raise HTTPException(422, str(error), cors) from error
    text = json_format.MessageToJson(Payloads(payloads=done))
    return Response(text, media_type="application/json", headers=cors)


async def _preflight(request: Request) -> Response:
    return Response(
        status_code=204, headers=_cors_headers(request, _settings_of(request).ui_origins)
    )


@router.post("/codec/decode")
async def decode(request: Request) -> Response:
    """Decrypt payloads for the Temporal UI (auditors and Order Management)."""
    return await _run(request, decode=True)


@router.post("/codec/encode")
async def encode(request: Request) -> Response:
    """Encrypt payloads the UI sends (e.g. a signal typed in the UI)."""
    return await _run(request, decode=False)


router.add_api_route(
    "/codec/decode", _preflight, methods=["OPTIONS"], include_in_schema=False, name="preflight"
)
router.add_api_route(
    "/codec/encode", _preflight, methods=["OPTIONS"], include_in_schema=False, name="preflight"
)
