"""Who may call which operation, decided before anything else is read.

Kept apart from `api.deps` (who the caller is) so sign-in can change
without touching these rules. A caller whose role may never do an
operation is refused 403 here, before the request body is parsed or
validated: an auditor learns "read-only", not what was wrong with the body.
Whether this person may act on this opportunity now (region, own deal, four
eyes, round) stays the workflow's answer; whether they may read it is
`domain.authorization.may_read`, answered 404 like an unknown id.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ValidationError

from api.deps import current_user
from api.errors import FieldError, field_errors
from domain.authorization import may_list_queue
from domain.policy import Role, RosterUser

DECIDING_ROLES = frozenset({Role.ORDER_MANAGEMENT.value, Role.BILLING.value})
"""Roles that decide a review stage (which stage is the workflow's check)."""

REP_ACTION_ROLES = frozenset({Role.REP.value})
"""Roles that own deals and so may recall or resubmit one."""

_Body = TypeVar("_Body", bound=BaseModel)


def _role_in(user: RosterUser, roles: frozenset[str], what: str) -> RosterUser:
    if str(user.role) not in roles:
        if user.role == Role.AUDITOR:
            why = "auditors have read-only access"
        else:
            why = "only " + " or ".join(sorted(roles)) + f" may {what}"
        raise HTTPException(403, f"{user.email} has role {user.role}: {why}")
    return user


def decider(user: Annotated[RosterUser, Depends(current_user)]) -> RosterUser:
    """The caller, if their role may decide a review at all; 403 otherwise."""
    return _role_in(user, DECIDING_ROLES, "decide a review")


def rep_caller(user: Annotated[RosterUser, Depends(current_user)]) -> RosterUser:
    """The caller, if their role may recall or resubmit a deal; 403 otherwise."""
    return _role_in(user, REP_ACTION_ROLES, "recall or resubmit a deal")


def queue_reader(user: Annotated[RosterUser, Depends(current_user)]) -> RosterUser:
    """The caller, if their role may list the review queue; 403 otherwise."""
    if not may_list_queue(user):
        raise HTTPException(
            403, f"role {user.role} has no review queue: open your own opportunities by id"
        )
    return user


def report_reader(user: Annotated[RosterUser, Depends(current_user)]) -> RosterUser:
    """The caller, if their role reads the manager's reports at all (every
    role but reps); which regions is `domain.authorization.report_regions`."""
    if user.role == Role.REP:
        raise HTTPException(
            403, f"{user.email} has role rep: reps do not read the manager's reports"
        )
    return user


class BodyInvalid(HTTPException):
    """A JSON body that is not the operation's model: 422 with each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        message = "; ".join(f"{e.field}: {e.reason}" for e in errors)
        super().__init__(422, message)
        self.field_errors = errors


def _in_body(field: str) -> str:
    return field if field == "body" else f"body.{field}"


async def parsed_body(request: Request, model: type[_Body]) -> _Body:
    """The request's JSON body as `model`, parsed only after the caller was
    authorized (FastAPI parses a declared body before any dependency runs)."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        raise BodyInvalid(
            [
                FieldError(field=_in_body(e.field), reason=e.reason)
                for e in field_errors(error.errors())
            ]
        ) from None


Decider = Annotated[RosterUser, Depends(decider)]
RepCaller = Annotated[RosterUser, Depends(rep_caller)]
QueueReader = Annotated[RosterUser, Depends(queue_reader)]
ReportReader = Annotated[RosterUser, Depends(report_reader)]
