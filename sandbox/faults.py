"""Fault injection: make the next N requests to one stand-in fail or stall.

`POST /__sandbox/faults` with, for example::

    {"salesforce": {"status": 503, "count": 3}}
    {"salesforce": {"status": 401, "error_code": "INVALID_SESSION_ID", "count": 1}}
    {"support_desk": {"status": 500, "count": 1, "after_create": true}}
    {"license": {"delay_seconds": 2.5, "count": 1}}
    {"notifications": {"status": 503, "count": 1, "after_create": true}}
    {"salesforce": {"status": 503, "match": "composite/sobjects", "skip": 1}}

`match` (optional) limits a fault to requests whose path and query contain
that text, so a test can aim at its own opportunity while other traffic
passes. `skip` lets that many matching requests through before the fault
fires (e.g. fail the second batch of a batched write). `after_create` makes
the support desk store the ticket (the chat webhook, the message) and then
answer the error, the case idempotency keys exist for. Faults live in
memory: a restart clears them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field
from starlette.requests import Request

Service = Literal["salesforce", "support_desk", "license", "notifications"]

# Salesforce answers errors with an errorCode; these are its usual ones.
DEFAULT_ERROR_CODES = {
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "UNKNOWN_EXCEPTION",
    503: "SERVER_UNAVAILABLE",
}


class Fault(BaseModel):
    status: int | None = Field(default=None, ge=400, le=599)
    error_code: str | None = None
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0, le=60)
    after_create: bool = False
    match: str | None = None
    skip: int = Field(default=0, ge=0)

    @property
    def code(self) -> str:
        return self.error_code or DEFAULT_ERROR_CODES.get(self.status or 500, "UNKNOWN_EXCEPTION")


class InjectedFault(NamedTuple):
    """An armed fault that answers an error: unlike `Fault`, its status is set."""

    status: int
    code: str
    after_create: bool


class FaultPlan(BaseModel):
    salesforce: Fault | None = None
    support_desk: Fault | None = None
    license: Fault | None = None
    notifications: Fault | None = None


class Faults:
    """The armed faults, consumed one request at a time across server threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, Fault] = {}

    def arm(self, plan: FaultPlan) -> dict[str, Fault]:
        with self._lock:
            for service in FaultPlan.model_fields:
                fault = getattr(plan, service)
                if fault is not None:
                    self._armed[service] = fault.model_copy()
            return dict(self._armed)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def armed(self) -> dict[str, Fault]:
        with self._lock:
            return dict(self._armed)

    def take(self, service: Service, target: str) -> Fault | None:
        """The fault for this request, if one is armed and matches; uses up one count."""
        with self._lock:
            fault = self._armed.get(service)
            if fault is None or (fault.match and fault.match not in target):
                return None
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.count -= 1
            if fault.count <= 0:
                del self._armed[service]
            return fault


async def injected(faults: Faults, service: Service, request: Request) -> InjectedFault | None:
    """Take the fault armed for this request and wait out its delay; return it
    when it answers an error status (each stand-in words the error its own way)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fault = faults.take(service, target)
    if fault is None:
        return None
    if fault.delay_seconds:
        await asyncio.sleep(fault.delay_seconds)
    if not fault.status:
        return None
    return InjectedFault(fault.status, fault.code, fault.after_create)
