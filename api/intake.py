"""`POST /intake/salesforce`: a Salesforce Flow's callout when a rep submits.

The raw body is authenticated by an HMAC-SHA256 signature (hex) in
`X-OM-Signature`, keyed with `settings.intake_secret`. Nothing is started for
a request that is refused: the signature is checked before the body is
parsed, and the body is validated whole before the workflow is started.
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


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of `body` a caller must send (Salesforce's Flow
    computes the same with `Crypto.generateMac('hmacSHA256', ...)`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _field_errors(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
        for e in error.errors()
    ]


def intake_router() -> APIRouter:
    router = APIRouter(tags=["intake"])

    @router.post("/intake/salesforce", status_code=202)
    async def salesforce_intake(request: Request) -> JSONResponse:
        """Start the opportunity's approval workflow (idempotent)."""
        settings = request.app.state.settings
        if settings.intake_secret is None:
            return JSONResponse(
                {"detail": "intake is not configured: set OM_INTAKE_SECRET"}, status_code=503
            )
        body = await request.body()
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

    return router
