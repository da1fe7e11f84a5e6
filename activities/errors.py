"""Adapter failures, each marked retryable or not, and their Temporal form.

The rule: a failure is retryable when the same request may succeed later
without changing it (outages, 5xx, rate limits, timeouts, an expired
session or credentials an operator can fix and restart the worker for);
it is not when the request itself is wrong (unknown record, refused
field, data that does not fit the contract). Activities raise
`ApplicationError(type=<class name>, non_retryable=not retryable)`, so a
workflow can catch by type name and Temporal's retry policy does the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from domain.errors import OmError, Unavailable, UnknownOpportunity

P = ParamSpec("P")
R = TypeVar("R")


class AdapterError(OmError):
    """Base of every failure an adapter reports; `retryable` drives Temporal.
    An `OmError`, so the CLI and API show it as one line, not a traceback."""

    retryable = False

    def __init__(
        self, message: str, *, service: str = "", status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.code = code


class RetryableError(AdapterError):
    """Transient: retry the same request later."""

    retryable = True


class NonRetryableError(AdapterError):
    """The request itself is wrong; retrying it cannot help."""


class ServiceUnavailable(RetryableError, Unavailable):
    """5xx, 429 / REQUEST_LIMIT_EXCEEDED, a timeout or a refused connection."""


class AuthenticationFailed(RetryableError):
    """The service refused our credentials (e.g. INVALID_SESSION_ID after a
    re-login attempt); fixing settings and restarting the worker resumes."""


class NotConfigured(RetryableError):
    """No URL / credentials for a service: set them, or start the sandbox."""


class RequestRejected(NonRetryableError):
    """The service refused the request as invalid (4xx: bad field, bad value)."""


class OpportunityNotFound(NonRetryableError, UnknownOpportunity):
    """No such opportunity in `where`; intake, CLI and API see an `UnknownOpportunity`."""

    def __init__(self, opportunity_id: str, where: str = "Salesforce") -> None:
        UnknownOpportunity.__init__(self, opportunity_id, where)
        self.service, self.status, self.code = where, 404, "NOT_FOUND"


class InvalidOpportunityData(NonRetryableError):
    """The CRM record does not fit the contract; `field` says where."""

    def __init__(self, opportunity_id: str, field: str, reason: str) -> None:
        super().__init__(
            f"opportunity {opportunity_id!r} has invalid data in {field}: {reason}",
            service="salesforce",
        )
        self.opportunity_id = opportunity_id
        self.field = field
        self.reason = reason


class TicketNotFound(NonRetryableError):
    def __init__(self, ticket_id: int) -> None:
        super().__init__(
            f"support ticket {ticket_id} not found", service="support_desk", status=404
        )
        self.ticket_id = ticket_id


def to_application_error(error: AdapterError) -> ApplicationError:
    """The Temporal failure for `error`: type = class name, retryability kept."""
    return ApplicationError(
        str(error), type=type(error).__name__, non_retryable=not error.retryable
    )


def as_activity_errors(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an activity body so adapter errors leave it as ApplicationErrors."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except AdapterError as error:
            raise to_application_error(error) from error

    return wrapper
