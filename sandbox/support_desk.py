"""The support desk stand-in: the part of Zendesk's Tickets API the license
fallback uses.

    POST /api/v2/tickets.json            {"ticket": {...}} -> 201 {"ticket": {...}}
    GET  /api/v2/tickets.json[?external_id=X]              -> {"tickets": [...], "count"}
    GET  /api/v2/tickets/{id}.json                         -> {"ticket": {...}}
    PUT  /api/v2/tickets/{id}.json       {"ticket": {"status", "comment": {"body"}}}
    GET  /api/v2/tickets/{id}/comments.json                -> {"comments": [...]}

A create carrying an `Idempotency-Key` header already seen answers the
ticket created the first time with `x-idempotency-lookup: hit` (and `miss`
the first time); the same key with a different body is refused with 400
IdempotentRequestError, as Zendesk does. Auth: `Authorization: Bearer
<support_desk_token>`, or Zendesk's basic `email/token:<token>`.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import RequestResponseEndpoint

from sandbox.faults import injected
from sandbox.state import SandboxState, bearer
from sandbox.store import IdempotencyMismatch, iso

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")


class DeskError(Exception):
    """An error answered in Zendesk's `{"error", "description"}` shape."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _invalid(description: str) -> DeskError:
    return DeskError(422, "RecordInvalid", description)


def _authorized(state: SandboxState, header: str | None) -> bool:
    if bearer(header) == state.support_desk_token:
        return True
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user.endswith("/token") and secret == state.support_desk_token


async def _ticket_body(request: Request) -> tuple[Any, dict[str, Any]]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise DeskError(400, "InvalidJSON", f"The request body is not JSON: {exc}") from exc
    ticket = body.get("ticket") if isinstance(body, dict) else None
    if not isinstance(ticket, dict):
        raise _invalid('The body must be {"ticket": {...}}')
    return body, ticket


def _comment(body: Any, author: str, now: str, comment_id: int) -> dict[str, Any]:
    if not isinstance(body, str) or not body.strip():
        raise _invalid("comment.body: cannot be blank")
    return {"id": comment_id, "body": body, "author": author, "public": True, "created_at": now}


def create_support_desk_app(state: SandboxState, base_url: str = "") -> FastAPI:
    """The ASGI app; `base_url` makes the tickets' `url` absolute."""
    app = FastAPI(title="Support desk sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    store = state.store

    @app.exception_handler(DeskError)
    async def _desk_error(_: Request, exc: DeskError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "description": exc.description}, status_code=exc.status
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": "InvalidEndpoint", "description": str(exc.detail)},
            status_code=exc.status_code,
        )

    @app.middleware("http")
    async def _faults_and_auth(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not _authorized(state, request.headers.get("authorization")):
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        fault = await injected(state.faults, "support_desk", request)
        if fault is not None:
            if fault.after_create:
                # The side effect happens, the answer is lost on the way back.
                lost = await call_next(request)
                # call_next answers starlette's private _StreamingResponse, which
                # `Response` (its declared type) does not show.
                async for _ in lost.body_iterator:  # type: ignore[attr-defined]
                    pass
            return JSONResponse(
                {"error": "SandboxFault", "description": "Sandbox fault injection"},
                status_code=fault.status,
            )
        return await call_next(request)

    def public(ticket: dict[str, Any]) -> dict[str, Any]:
        """The ticket as the API shows it (comments have their own endpoint)."""
        shown = {k: v for k, v in ticket.items() if k != "comments"}
        return {
            "id": ticket["id"],
            "url": f"{base_url}/api/v2/tickets/{ticket['id']}.json",
            **shown,
        }

    @app.post("/api/v2/tickets.json")
    async def create_ticket(request: Request) -> JSONResponse:
        body, fields = await _ticket_body(request)
        now = iso(store.clock())
        comment = fields.get("comment") or {}
        description = comment.get("body") if isinstance(comment, dict) else None
        requester = fields.get("requester") or {}
        if not isinstance(requester, dict) or not requester.get("email"):
            raise _invalid("requester.email: is required")
        priority = fields.get("priority") or "normal"
        if priority not in PRIORITIES:
            raise _invalid(f"priority: must be one of {', '.join(PRIORITIES)}")
        tags = fields.get("tags") or []
        custom_fields = fields.get("custom_fields") or []
        if not isinstance(tags, list) or not isinstance(custom_fields, list):
            raise _invalid("tags and custom_fields must be lists")
        ticket = {
            "external_id": fields.get("external_id"),
            "subject": fields.get("subject") or "",
            "description": description,
            "status": "new",
            "priority": priority,
            "requester_id": zlib.crc32(requester["email"].lower().encode()),
            "requester": {"name": requester.get("name"), "email": requester["email"]},
            "tags": tags,
            "custom_fields": custom_fields,
            "comments": [_comment(description, requester["email"], now, 1)],
            "created_at": now,
            "updated_at": now,
        }
        try:
            stored, hit = store.create_ticket(ticket, request.headers.get("idempotency-key"), body)
        except IdempotencyMismatch as exc:
            raise DeskError(
                400,
                "IdempotentRequestError",
                "Request parameters do not match the original request for this Idempotency-Key",
            ) from exc
        headers = {"x-idempotency-lookup": "hit" if hit else "miss"}
        return JSONResponse({"ticket": public(stored)}, status_code=201, headers=headers)

    @app.get("/api/v2/tickets.json")
    def list_tickets(external_id: str | None = None) -> JSONResponse:
        tickets = [public(t) for t in store.tickets(external_id)]
        return JSONResponse(
            {"tickets": tickets, "count": len(tickets), "next_page": None, "previous_page": None}
        )

    def load(ticket_id: int) -> dict[str, Any]:
        ticket = store.get_ticket(ticket_id)
        if ticket is None:
            raise DeskError(404, "RecordNotFound", "Not found")
        return ticket

    @app.get("/api/v2/tickets/{ticket_id:int}.json")
    def get_ticket(ticket_id: int) -> JSONResponse:
        return JSONResponse({"ticket": public(load(ticket_id))})

    @app.get("/api/v2/tickets/{ticket_id:int}/comments.json")
    def get_comments(ticket_id: int) -> JSONResponse:
        comments = load(ticket_id)["comments"]
        return JSONResponse({"comments": comments, "count": len(comments)})

    @app.put("/api/v2/tickets/{ticket_id:int}.json")
    async def update_ticket(ticket_id: int, request: Request) -> JSONResponse:
        _, fields = await _ticket_body(request)
        ticket = load(ticket_id)
        if ticket["status"] == "closed":
            raise _invalid("status: closed prevents ticket update")
        now = iso(store.clock())
        status = fields.get("status")
        if status is not None:
            if status not in STATUSES:
                raise _invalid(f"status: must be one of {', '.join(STATUSES)}")
            ticket["status"] = status
        if fields.get("priority") is not None:
            if fields["priority"] not in PRIORITIES:
                raise _invalid(f"priority: must be one of {', '.join(PRIORITIES)}")
            ticket["priority"] = fields["priority"]
        comment = fields.get("comment")
        if comment is not None:
            if not isinstance(comment, dict):
                raise _invalid("comment: must be an object")
            entry = _comment(comment.get("body"), "agent", now, len(ticket["comments"]) + 1)
            entry["public"] = bool(comment.get("public", True))
            ticket["comments"].append(entry)
        ticket["updated_at"] = now
        store.save_ticket(ticket)
        return JSONResponse({"ticket": public(ticket)})

    return app
