"""The team-chat stand-in: a Slack-compatible incoming webhook that stores
what it is sent, so a developer (`om sandbox notifications`) and the tests
can see the SLA warnings and escalations the workflow posts.

    POST /chat/webhook   {"channel", "text", "idempotency_key"?, "opportunity_id"?}
        -> 200 "ok" (text/plain, as Slack answers)
        400 "invalid_payload" (not a JSON object, no channel, a field of the
            wrong type), 400 "no_text" (blank text), 403 "invalid_token".

An `Idempotency-Key` header (or, without one, the body's `idempotency_key`)
already seen answers 200 "ok" again and stores nothing new, with
`x-idempotency-lookup: hit` (`miss` the first time). Auth: `Authorization:
Bearer <notifications_token>` from sandbox.json, whose `notifications_url`
is this endpoint's full URL. Served by the license service's server, next
to the admin API that lists the messages (`GET /__sandbox/notifications`).
Faults: `{"notifications": {...}}` (see sandbox.faults; `after_create`
stores the message, then answers the error).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from sandbox.faults import injected
from sandbox.state import SandboxState, bearer

WEBHOOK_PATH = "/chat/webhook"


class _Refused(Exception):
    """A payload Slack would refuse, with its one-word error."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _message(raw: bytes) -> dict[str, Any]:
    """The webhook body's fields, validated the way Slack words its refusals."""
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise _Refused("invalid_payload") from exc
    if not isinstance(body, dict):
        raise _Refused("invalid_payload")
    channel, text = body.get("channel"), body.get("text")
    if not isinstance(channel, str) or not channel.strip():
        raise _Refused("invalid_payload")
    if text is not None and not isinstance(text, str):
        raise _Refused("invalid_payload")
    if not text or not text.strip():
        raise _Refused("no_text")
    for optional in ("opportunity_id", "idempotency_key"):
        if body.get(optional) is not None and not isinstance(body[optional], str):
            raise _Refused("invalid_payload")
    return body


def chat_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> PlainTextResponse:
        if bearer(request.headers.get("authorization")) != state.notifications_token:
            return PlainTextResponse("invalid_token", status_code=403)
        fault = await injected(state.faults, "notifications", request)
        if fault is not None and not fault.after_create:
            return PlainTextResponse("sandbox_fault", status_code=fault.status)
        try:
            body = _message(await request.body())
        except _Refused as refused:
            return PlainTextResponse(refused.error, status_code=400)
        key = request.headers.get("idempotency-key") or body.get("idempotency_key") or None
        _, hit = await asyncio.to_thread(
            state.store.add_notification,
            body["channel"],
            body["text"],
            body.get("opportunity_id"),
            key,
        )
        if fault is not None:
            # Stored, and the answer is lost on the way back.
            return PlainTextResponse("sandbox_fault", status_code=fault.status)
        headers = {"x-idempotency-lookup": "hit" if hit else "miss"} if key else {}
        return PlainTextResponse("ok", headers=headers)

    return router
