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
from pydantic import BaseModel, ValidationError

from api.contract import json_body
from api.deps import approvals
from api.errors import FieldError, error_body, error_responses, field_errors
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


class IntakeAccepted(BaseModel):
    """What intake answers: the workflow of the opportunity, and whether
    this request started it (false: it was already running)."""

    workflow_id: str
    started: bool


def _refused(status: int, message: str, errors: list[FieldError] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, errors=errors or []), status_code=status)


@router.post(
    "/intake/salesforce",
    status_code=202,
    response_model=IntakeAccepted,
    responses=error_responses(401, 409, 413, 422, 503),
    openapi_extra={
        **json_body(Opportunity, "The opportunity as the CRM holds it (the intake contract)"),
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "Hex HMAC-SHA256 of the raw body, keyed with the intake "
                "secret (`OM_INTAKE_SECRET`); 401 when missing or wrong",
                "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            }
        ],
        # Authenticated by the signature, not by a bearer token.
        "security": [],
    },
)
async def salesforce_intake(request: Request) -> JSONResponse:
    """Start the opportunity's approval workflow (idempotent). 409 when the
    opportunity already went through approval; 503 while the intake secret
    is not configured (`om dev` sets a demo one)."""
    settings = request.app.state.settings
    if settings.intake_secret is None:
        return _refused(503, "intake is not configured: set OM_INTAKE_SECRET")
    try:
        body = await _read_capped(request, MAX_BODY_BYTES)
    except _TooLarge:
        return _refused(413, f"body larger than {MAX_BODY_BYTES} bytes (1 MiB): refused")
    given = request.headers.get(SIGNATURE_HEADER, "")
    expected = sign(body, settings.intake_secret.get_secret_value())
    # As bytes: compare_digest refuses str with non-ASCII, which a header may carry.
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        return _refused(401, f"invalid or missing {SIGNATURE_HEADER} signature")
    try:
        opportunity = Opportunity.model_validate(json.loads(body))
    except ValueError as error:  # JSONDecodeError and ValidationError both
        errors = (
            [
                FieldError(
                    field=f"body.{e.field}" if e.field != "body" else "body", reason=e.reason
                )
                for e in field_errors(error.errors())
            ]
            if isinstance(error, ValidationError)
            else [FieldError(field="body", reason=f"not JSON: {error}")]
        )
        message = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        return _refused(422, f"not an opportunity: {message}", errors)
    ops = await approvals(request)
    workflow_id, started = await ops.submit(opportunity)
    return JSONResponse(
        IntakeAccepted(workflow_id=workflow_id, started=started).model_dump(), status_code=202
    )
