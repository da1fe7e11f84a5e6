"""Which HTTP answer each domain error gets: one table for the whole app.

The JSON API and the console both report the workflow's refusals, and a
specialist told "409" on a page must be told 409 by the API too, so both
read their status codes (and headers, such as `Retry-After` for `Busy`)
from `answer_for` here rather than keeping tables of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse

from domain.errors import (
    Busy,
    Finished,
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


async def json_error(_: Request, error: Exception) -> JSONResponse:
    """Exception handler of the JSON API: `{"detail": <the error's sentence>}`."""
    answer = answer_for(error)
    return JSONResponse({"detail": str(error)}, status_code=answer.status, headers=answer.headers)
