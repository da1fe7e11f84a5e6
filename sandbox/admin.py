"""The sandbox's admin API, served under `/__sandbox` by the license service's
server (plain HTTP, so the CLI needs no CA). Bearer token: the session_id.

    GET    /__sandbox/health                     (no auth) {"ok": true, "opportunities": n,
                                                 "subscriptions": n}
    POST   /__sandbox/seed                       seed file body; 422 names index and field
    POST   /__sandbox/licenses/{id}/deliver      deliver by hand (Support)
    GET    /__sandbox/opportunities              records without OM_Submission__c
    GET    /__sandbox/opportunities/{id}         record + account, owner, license,
                                                 chatter, tickets, notifications
    GET    /__sandbox/notifications[?opportunity_id=X&channel=C&limit=N]
                                                 chat messages (sandbox.chat), newest last
    GET    /__sandbox/faults   POST (arm)   DELETE (clear)     see sandbox.faults
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from sandbox.faults import FaultPlan
from sandbox.seed import SeedError, parse_renewal_seed, parse_seed
from sandbox.soql import Condition, Query
from sandbox.state import SandboxState, bearer
from sandbox.store import Store

_FEED_FIELDS = ("Id", "ParentId", "Body", "Type", "CreatedDate")


def opportunity_view(store: Store, opportunity_id: str) -> dict[str, Any] | None:
    """The CRM record as the sandbox holds it, with what hangs off it."""
    record = store.get("Opportunity", opportunity_id)
    if record is None:
        return None
    feed = Query(
        "FeedItem",
        _FEED_FIELDS,
        (Condition("ParentId", "=", opportunity_id),),
        order_by="CreatedDate",
    )
    return {
        **record,
        "account": store.get("Account", record.get("AccountId") or ""),
        "owner": store.get("User", record.get("OwnerId") or ""),
        "license": store.license(opportunity_id),
        "chatter": [item for _, item in store.query(feed)],
        "tickets": store.tickets(opportunity_id),
        "notifications": store.notifications(opportunity_id=opportunity_id),
        "field_history": store.field_history(opportunity_id),
    }


def admin_router(state: SandboxState) -> APIRouter:
    store = state.store

    def authorized(request: Request) -> None:
        if bearer(request.headers.get("authorization")) != state.session_id:
            raise HTTPException(
                401, "Invalid or missing bearer token (use the session_id from sandbox.json)"
            )

    open_router = APIRouter(prefix="/__sandbox")
    router = APIRouter(prefix="/__sandbox", dependencies=[Depends(authorized)])

    @open_router.get("/health")
    def health() -> dict[str, Any]:
        return {
            "ok": True,
            "opportunities": store.count("Opportunity"),
            "subscriptions": store.count("Subscription__c"),
        }

    @router.post("/seed")
    async def seed(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError as exc:
            return JSONResponse(
                {"detail": f"seed rejected, nothing stored: not JSON ({exc})", "errors": []},
                status_code=422,
            )
        try:
            opportunities, delivered = parse_seed(payload, store.known_opportunities)
            extra = parse_renewal_seed(payload, store.clock())
        except SeedError as exc:
            return JSONResponse(
                {"detail": str(exc), "errors": [p.model_dump() for p in exc.problems]},
                status_code=422,
            )
        await asyncio.to_thread(store.seed, opportunities, delivered, extra)
        return JSONResponse(
            {
                "opportunities": len(opportunities),
                "subscriptions": sum(1 for t, _ in extra if t == "Subscription__c"),
                "renewals": sum(1 for t, _ in extra if t == "Opportunity"),
                "delivered_licenses": len(delivered),
                "ids": [o.id for o in opportunities],
            }
        )

    @router.post("/licenses/{opportunity_id}/deliver")
    def deliver_license(opportunity_id: str) -> dict[str, Any]:
        status = store.deliver_license(opportunity_id)
        if status is None:
            raise HTTPException(404, f"Unknown opportunity {opportunity_id}")
        return status

    @router.get("/opportunities")
    def list_opportunities(limit: int = 1000) -> dict[str, Any]:
        records = store.list_opportunities(limit)
        return {"opportunities": records, "count": len(records)}

    @router.get("/opportunities/{opportunity_id}")
    def show_opportunity(opportunity_id: str) -> dict[str, Any]:
        view = opportunity_view(store, opportunity_id)
        if view is None:
            raise HTTPException(404, f"Unknown opportunity {opportunity_id}")
        return view

    @router.get("/notifications")
    def list_notifications(
        opportunity_id: str | None = None, channel: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        messages = store.notifications(opportunity_id, channel, limit)
        return {"notifications": messages, "count": len(messages)}

    @router.post("/salesforce/rotate-session")
    def rotate_session() -> dict[str, Any]:
        """Expire the Salesforce session; the new one is in the session file."""
        state.rotate_salesforce_session()
        return {"rotated": True, "session_file": str(state.session_file)}

    @router.get("/faults")
    def faults() -> dict[str, Any]:
        return {k: v.model_dump() for k, v in state.faults.armed().items()}

    @router.post("/faults")
    async def arm_faults(request: Request) -> JSONResponse:
        try:
            plan = FaultPlan.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        armed = state.faults.arm(plan)
        return JSONResponse({k: v.model_dump() for k, v in armed.items()})

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {}

    combined = APIRouter()
    combined.include_router(open_router)
    combined.include_router(router)
    return combined
