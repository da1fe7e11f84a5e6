"""Which HTTP answer each refusal gets: one table for the whole app.

The JSON API and the console both report the workflow's refusals, and a
specialist told "409" on a page must be told 409 by the API too, so both
read their status codes (and headers, such as `Retry-After` for `Busy`)
from `answer_for` here rather than keeping tables of their own.

Every refusal of the JSON API has one body, `ErrorBody`: a machine-readable
`code`, a `message` for a person and, for 422, the field errors. The
OpenAPI document declares it for every status an operation can return
(`responses`), so a client generated from the document reads every answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from temporalio.service import RPCError

from domain.errors import (
    Busy,
    Finished,
    KeyReused,
    NotSubmitted,
    OmError,
    Refused,
    Unavailable,
    UnknownOpportunity,
    UnknownUser,
)
from domain.reasons import UnknownReasonCode

RETRY_AFTER_SECONDS = 1
"""What a `Busy` answer asks the caller to wait: the server's limit is on
requests in flight on one workflow, which clear in well under a second."""

STATUS_BY_ERROR: dict[type[Exception], int] = {
    NotSubmitted: 404,
    Finished: 409,
    UnknownOpportunity: 404,
    UnknownUser: 403,
    UnknownReasonCode: 422,
    KeyReused: 422,
    Busy: 429,
    Unavailable: 503,
    OmError: 400,
}
"""Status of each error type; a subclass not listed gets its nearest listed
ancestor's (so a new `OmError` is a 400 until someone decides otherwise)."""

STATUS_BY_REFUSAL: dict[str, int] = {"forbidden": 403, "conflict": 409, "invalid": 422}
"""A workflow refusal's status follows its `kind`: not this person, not now,
or an incomplete decision."""

_HEADERS_BY_ERROR: dict[type[Exception], dict[str, str]] = {
    Busy: {"Retry-After": str(RETRY_AFTER_SECONDS)},
}


@dataclass(frozen=True)
class ErrorAnswer:
    """The HTTP status and headers a domain error is answered with."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


def answer_for(error: Exception) -> ErrorAnswer:
    """The answer for a domain error (an `OmError` or a bad reason code);
    raises `TypeError` for anything else, which is not the caller's to fix.

    A `Refused` of a kind not in `STATUS_BY_REFUSAL` is a 409: the workflow
    turned the request away, and "not now" is the cautious reading."""
    if isinstance(error, Refused):
        return ErrorAnswer(STATUS_BY_REFUSAL.get(error.kind, 409))
    for kind in type(error).__mro__:
        if kind in STATUS_BY_ERROR:
            return ErrorAnswer(STATUS_BY_ERROR[kind], dict(_HEADERS_BY_ERROR.get(kind, {})))
    raise TypeError(f"{type(error).__name__} is not a domain error")


# ---- the one error body ------------------------------------------------------------


class FieldError(BaseModel):
    """One field of a request that was refused, and why."""

    field: str = Field(description="Where: `body.reasons.0`, `query.limit`, `path.opportunity_id`")
    reason: str


class ErrorBody(BaseModel):
    """Every refusal of the JSON API: what kind (`code`), in words (`message`)
    and, for 422, each field at fault (`errors`)."""

    code: str = Field(description="Machine-readable kind of refusal, e.g. `forbidden`")
    message: str = Field(description="One sentence a person can act on")
    errors: list[FieldError] = Field(
        default_factory=list, description="The fields at fault (422 only; else empty)"
    )
    detail: str = Field(
        description="The same sentence as `message`, kept for clients written before `message`",
        json_schema_extra={"deprecated": True},
    )


CODE_BY_ERROR: dict[type[Exception], str] = {
    NotSubmitted: "not_found",
    UnknownOpportunity: "not_found",
    Finished: "finished",
    UnknownUser: "unknown_user",
    UnknownReasonCode: "unknown_reason_code",
    KeyReused: "idempotency_key_reused",
    Busy: "busy",
    Unavailable: "unavailable",
    OmError: "bad_request",
}
"""The `code` of each domain error; nearest listed ancestor as for the status."""

CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "busy",
    503: "unavailable",
}
"""The `code` of a refusal raised as a plain status (`HTTPException`)."""

DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed",
    401: "No bearer token, or one the roster does not know (`WWW-Authenticate: Bearer`)",
    403: "This caller may not do this (role, region, own deal, four eyes)",
    404: "No such opportunity, or one this caller may not read",
    409: "Not now: the round is not pending, or the approval has finished",
    413: "The body is larger than allowed",
    422: "The request is incomplete or invalid; `errors` names each field",
    429: "Busy: too many requests on this opportunity at this moment (`Retry-After`)",
    503: "Temporal (or a configured part) cannot answer now",
}


def error_body(
    status: int, message: str, code: str | None = None, errors: Sequence[FieldError] = ()
) -> dict[str, Any]:
    """The JSON of an `ErrorBody`."""
    return ErrorBody(
        code=code or CODE_BY_STATUS.get(status, "error"),
        message=message,
        errors=list(errors),
        detail=message,
    ).model_dump(mode="json")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an operation's refusals, each an `ErrorBody`."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]}
        for status in sorted(statuses)
    }


def code_for(error: Exception) -> str:
    if isinstance(error, Refused):
        return {"forbidden": "forbidden", "invalid": "invalid"}.get(error.kind, "conflict")
    for kind in type(error).__mro__:
        if kind in CODE_BY_ERROR:
            return CODE_BY_ERROR[kind]
    return "error"


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic's (or FastAPI's) error list as `FieldError`s."""
    return [
        FieldError(field=".".join(str(p) for p in e.get("loc", ())) or "body", reason=e["msg"])
        for e in errors
    ]


async def json_error(_: Request, error: Exception) -> JSONResponse:
    """Exception handler of the JSON API for domain errors."""
    answer = answer_for(error)
    message = str(error)
    errors = (
        [FieldError(field="body.reasons", reason=message)]
        if isinstance(error, UnknownReasonCode)
        else []
    )
    return JSONResponse(
        error_body(answer.status, message, code_for(error), errors),
        status_code=answer.status,
        headers=answer.headers,
    )


async def http_error(_: Request, error: Exception) -> JSONResponse:
    """Exception handler for plain statuses (401, 403, 404 of an unknown path...)."""
    assert isinstance(error, HTTPException)
    message = error.detail if isinstance(error.detail, str) else str(error.detail)
    return JSONResponse(
        error_body(error.status_code, message, errors=getattr(error, "field_errors", ())),
        status_code=error.status_code,
        headers=error.headers,
    )


async def validation_error(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's own 422 (query, path, header or body fields) in the one body."""
    assert isinstance(error, RequestValidationError)
    errors = field_errors(error.errors())
    message = "; ".join(f"{e.field}: {e.reason}" for e in errors) or "invalid request"
    return JSONResponse(error_body(422, message, errors=errors), status_code=422)


async def temporal_error(_: Request, error: Exception) -> JSONResponse:
    """Temporal not answering (down, timed out): 503, never a traceback."""
    message = f"Temporal could not answer: {error}"
    return JSONResponse(error_body(503, message), status_code=503)


def install_error_handlers(app: Any) -> None:
    """Answer every refusal of `app` with an `ErrorBody`."""
    app.add_exception_handler(OmError, json_error)
    app.add_exception_handler(UnknownReasonCode, json_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(RPCError, temporal_error)
