"""`POST /codec/decode` and `/codec/encode`: the codec server the Temporal UI speaks.

With payload encryption on, the UI only sees ciphertext; it sends payloads
here (JSON `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`) and
shows what comes back. Only people allowed to read histories (auditors and
Order Management), by roster token or OIDC access token as on the rest of
the API, get an answer.

With encryption off the codec is the identity: payloads come back
unchanged (200). The history is plain JSON then, so there is nothing to
hide, and a Temporal UI left pointing at the codec keeps showing payloads
instead of an error on each one; a 503 would call a setting a server fault.

The codec itself lives in `om.codec`, which the worker and the client
import too; this module is the HTTP face of it, kept here so the worker
process never loads FastAPI.

CORS is answered here rather than by app-wide middleware so including the
router changes nothing else in the app; preflights carry no token, so they
are answered without one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from google.protobuf import json_format
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from temporalio.api.common.v1 import Payload, Payloads

from api.contract import json_body
from api.deps import current_user
from api.errors import error_responses
from domain.policy import RosterUser
from om.codec import EncryptionCodec, encryption_settings
from om.settings import PayloadEncryption

CODEC_ROLES = frozenset({"auditor", "order_management"})

router = APIRouter(tags=["codec"])

_bearer = HTTPBearer(auto_error=False)
"""Declares bearer security in the OpenAPI document; the token itself is
read by `_codec_user`, so a refusal carries the CORS headers."""


class CodecPayload(BaseModel):
    """One Temporal payload in protobuf's JSON form."""

    metadata: dict[str, str] = Field(
        default_factory=dict, description="Metadata values, each base64 (`encoding`...)"
    )
    data: str = Field(default="", description="The payload bytes, base64")


class CodecPayloads(BaseModel):
    """What the Temporal UI sends to a codec server, and what comes back."""

    payloads: list[CodecPayload] = Field(default_factory=list)


def payload_codec(state: State) -> EncryptionCodec | None:
    """The app's codec (`state.payload_codec`), built from its settings on
    first use; None while encryption is off (payloads pass unchanged)."""
    codec: EncryptionCodec | None = getattr(state, "payload_codec", None)
    if codec is None:
        config = encryption_settings(state.settings)
        if not config.enabled:
            return None
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
    done: list[Payload] = list(payloads.payloads)
    try:
        if active is not None:
            done = await (active.decode(done) if decode else active.encode(done))
    except ValueError as error:
        raise HTTPException(422, str(error), cors) from error
    answer = json_format.MessageToDict(Payloads(payloads=done))
    answer.setdefault("payloads", [])  # protobuf's JSON omits an empty list
    return Response(json.dumps(answer), media_type="application/json", headers=cors)


async def _preflight(request: Request) -> Response:
    return Response(
        status_code=204, headers=_cors_headers(request, _settings_of(request).ui_origins)
    )


_Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_CONTRACT = {
    "response_model": CodecPayloads,
    "responses": error_responses(401, 403, 422),
    "openapi_extra": json_body(CodecPayloads),
}


@router.post("/codec/decode", **_CONTRACT)  # type: ignore[arg-type]
async def decode(request: Request, _: _Bearer) -> Response:
    """Decrypt payloads for the Temporal UI (auditors and Order Management);
    unchanged while payload encryption is off."""
    return await _run(request, decode=True)


@router.post("/codec/encode", **_CONTRACT)  # type: ignore[arg-type]
async def encode(request: Request, _: _Bearer) -> Response:
    """Encrypt payloads the UI sends (e.g. a signal typed in the UI);
    unchanged while payload encryption is off."""
    return await _run(request, decode=False)


router.add_api_route(
    "/codec/decode", _preflight, methods=["OPTIONS"], include_in_schema=False, name="preflight"
)
router.add_api_route(
    "/codec/encode", _preflight, methods=["OPTIONS"], include_in_schema=False, name="preflight"
)
