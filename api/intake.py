"""`POST /intake/salesforce`: a Salesforce Flow's callout when a rep submits.

The raw body is authenticated by an HMAC-SHA256 signature (hex) in
`X-OM-Signature`, keyed with `settings.intake_secret`. Nothing is started for
a request that is refused: the signature is checked before the body is
parsed, and the body is validated whole before the workflow is started.
Bodies over `MAX_BODY_BYTES` are refused with 413 before they are buffered.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import approvals
from domain.models import Opportunity

SIGNATURE_HEADER = "X-OM-Signature"
MAX_BODY_BYTES = 1024 * 1024
"""A submission is a few KB; a megabyte is generous and keeps one caller from
making the API buffer (and HMAC) arbitrary amounts of memory."""

router = APIRouter(tags=["intake"])


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refusing early: by Content-Length when given, else while
    streaming (chunked uploads carry no length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of `body` a caller must send (Salesforce's Flow
    computes the same with `Crypto.generateMac('hmacSHA256', ...)`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
        for e in error.errors()
    ]


@router.post("/intake/salesforce", status_code=202)
async def salesforce_intake(request: Request) -> JSONResponse:
    """Start the opportunity's approval workflow (idempotent)."""
    settings = request.app.state.settings
    if settings.intake_secret is None:
        return JSONResponse(
            {"detail": "intake is not configured: set OM_INTAKE_SECRET"}, status_code=503
        )
    try:
        body = await _read_capped(request, MAX_BODY_BYTES)
    except _TooLarge:
        return JSONResponse(
            {"detail": f"body larger than {MAX_BODY_BYTES} bytes (1 MiB): refused"},
            status_code=413,
        )
    given = request.headers.get(SIGNATURE_HEADER, "")
    expected = sign(body, settings.intake_secret.get_secret_value())
    if not hmac.compare_digest(given.lower(), expected):
        return JSONResponse(
            {"detail": f"invalid or missing {SIGNATURE_HEADER} signature"}, status_code=401
        )
    try:
        opportunity = Opportunity.model_validate(json.loads(body))
    except ValueError as error:  # JSONDecodeError and ValidationError both
        detail = (
            _field_errors(error)
            if isinstance(error, ValidationError)
            else [{"field": "body", "reason": f"not JSON: {error}"}]
        )
        return JSONResponse({"detail": detail}, status_code=422)
    ops = await approvals(request)
    workflow_id, started = await ops.submit(opportunity)
    return JSONResponse({"workflow_id": workflow_id, "started": started}, status_code=202)
