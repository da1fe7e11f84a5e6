"""One table of HTTP answers for domain errors, read by the JSON API and the
console alike (`api/errors.py`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.console.shared import error_for
from api.errors import ErrorBody, answer_for, code_for
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
from om.settings import Settings


class SomethingNew(OmError):
    """An OmError nobody has given a status yet."""


DOMAIN_ERRORS = [
    (NotSubmitted("006A"), 404),
    (Finished("006A", "completed"), 409),
    (UnknownOpportunity("006A"), 404),
    (UnknownUser("nobody@example.com"), 403),
    (Refused("not this person", "forbidden"), 403),
    (Refused("not pending any more", "conflict"), 409),
    (Refused("a reject needs a reason", "invalid"), 422),
    (Refused("a kind nobody planned for", "odd"), 409),
    (UnknownReasonCode(["NOPE"]), 422),
    (Busy("busy: too many decisions on 006A"), 429),
    (Unavailable("the sandbox is down"), 503),
    (SomethingNew("something a person can fix"), 400),
    (KeyReused("click-1"), 422),
]


@pytest.mark.parametrize(("error", "status"), DOMAIN_ERRORS, ids=lambda v: repr(v)[:40])
def test_each_domain_error_has_one_status_for_api_and_console(error: Exception, status: int):
    assert answer_for(error).status == status
    inline = error_for(error)
    assert (inline.status, inline.message) == (status, str(error))


def test_only_busy_asks_the_caller_to_retry_after_a_second():
    assert answer_for(Busy("busy")).headers == {"Retry-After": "1"}
    assert all(
        "Retry-After" not in answer_for(error).headers
        for error, _ in DOMAIN_ERRORS
        if not isinstance(error, Busy)
    )


def test_the_console_shows_busy_as_429_under_its_own_title():
    inline = error_for(Busy("busy: too many decisions on 006A"))
    assert inline.status == 429 and inline.title.startswith("Busy")


def test_the_console_shows_temporal_not_answering_as_503():
    rpc = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    assert error_for(rpc).status == 503 and "could not answer" in error_for(rpc).message
    assert error_for(RuntimeError("no client")).status == 503


def test_anything_but_a_domain_error_is_not_the_tables_to_answer():
    with pytest.raises(TypeError, match="ValueError is not a domain error"):
        answer_for(ValueError("a bug"))


@pytest.mark.parametrize(("error", "status"), DOMAIN_ERRORS, ids=lambda v: repr(v)[:40])
def test_the_json_api_answers_each_domain_error_with_one_error_body(error: Exception, status: int):
    app = create_app(Settings(api_metrics=False))

    async def fails() -> None:
        raise error

    app.add_api_route("/fails", fails)
    response = TestClient(app).get("/fails")
    assert response.status_code == status
    body = response.json()
    assert ErrorBody.model_validate(body).message == body["detail"] == str(error)
    assert body["code"] == code_for(error) and body["code"] != "error"
    assert body["errors"] == (
        [{"field": "body.reasons", "reason": str(error)}]
        if isinstance(error, UnknownReasonCode)
        else []
    )
    assert ("retry-after" in response.headers) == isinstance(error, Busy)
