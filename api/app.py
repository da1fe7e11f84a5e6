"""The HTTP API (FastAPI): the same operations as the `om` command.

Bearer tokens identify roster users (demo tokens are printed by `make run`).
Every error is JSON with a `detail` that names the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Literal

from fastapi import FastAPI, Header, Query, Response
from pydantic import BaseModel, Field
from temporalio.client import Client

from api import codec
from api.console import console_router
from api.deps import Ops, User, temporal_client
from api.errors import json_error
from api.intake import intake_router
from api.metrics import install_metrics
from api.queue_view import QueueEntry, queue_json
from domain.errors import OmError
from domain.messages import ApprovalStatus, DecisionReceipt
from domain.models import Region
from domain.reasons import UnknownReasonCode
from domain.settings import Settings, load_settings
from workers.approvals import Approvals
from workers.queue_snapshot import Loader, QueueSnapshot


class DecisionBody(BaseModel):
    stage: Literal["om", "finance"]
    action: Literal["approve", "reject"]
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""
    round: int | None = None
    acknowledged: list[str] = Field(
        default_factory=list, description="Judgment findings the specialist checked"
    )


class RepBody(BaseModel):
    comment: str = ""


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """The app; `client` is injected by `om dev` and tests, else connected lazily.
    With `api_metrics` on it serves Prometheus metrics at GET /metrics."""

    async def queue_loader() -> Loader:
        return Approvals(await temporal_client(app.state), app.state.settings).list_queue

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warm = asyncio.create_task(app.state.queue_snapshot.keep_warm(queue_loader))
        yield
        warm.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warm
        await app.state.queue_snapshot.close()

    app = FastAPI(
        title="Order Management orchestrator",
        description="Booking approval of sales opportunities on Temporal.",
        lifespan=lifespan,
    )
    app.state.settings = settings or load_settings()
    app.state.queue_snapshot = QueueSnapshot(app.state.settings.queue_cache_seconds)
    app.state.client = client
    app.state.payload_codec = None  # built from settings on first use (api.codec)
    if app.state.settings.api_metrics:
        install_metrics(app)
    app.include_router(intake_router())
    app.include_router(codec.router)
    app.include_router(console_router())

    app.add_exception_handler(OmError, json_error)
    app.add_exception_handler(UnknownReasonCode, json_error)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/queue", response_model=list[QueueEntry])
    async def queue(
        _: User,
        ops: Ops,
        region: Region | None = None,
        limit: int | None = Query(
            default=None, ge=1, le=10_000, description="Only the first `limit` rows"
        ),
    ) -> Response:
        """Open reviews in priority order, each with the business time left
        on its SLA in its queue region's calendar. Served from a listing at
        most `queue_cache_seconds` old (header `X-Queue-Listed-At`); the
        caller's own decisions are reflected at once."""
        items = await ops.queue(region)
        # Serialized here, not by FastAPI, which would validate every row again.
        body = queue_json(items[:limit], app.state.settings.calendar, datetime.now(UTC))
        response = Response(body, media_type="application/json")
        listed_at = app.state.queue_snapshot.listed_at
        if listed_at is not None:
            response.headers["X-Queue-Listed-At"] = listed_at.isoformat()
        return response

    @app.get("/opportunities/{opportunity_id}", response_model=ApprovalStatus)
    async def opportunity(opportunity_id: str, _: User, ops: Ops) -> ApprovalStatus:
        return await ops.status(opportunity_id)

    @app.post("/opportunities/{opportunity_id}/decisions", response_model=DecisionReceipt)
    async def decide(
        opportunity_id: str,
        body: DecisionBody,
        who: User,
        ops: Ops,
        idempotency_key: str | None = Header(
            default=None,
            max_length=200,
            description="Sending the same decision again with the same key (a retry "
            "after a lost answer) returns the first answer instead of a 409",
        ),
    ) -> DecisionReceipt:
        from domain.reasons import parse_reason_codes

        parse_reason_codes(body.reasons)
        return await ops.decide(
            opportunity_id,
            who.email,
            body.stage,
            body.action,
            body.reasons,
            body.comment,
            body.round,
            body.acknowledged,
            # Scoped to the person, so one user's key never answers for another.
            update_id=f"{who.email}:{idempotency_key}" if idempotency_key else None,
        )

    @app.post("/opportunities/{opportunity_id}/resubmit", response_model=DecisionReceipt)
    async def resubmit(opportunity_id: str, body: RepBody, who: User, ops: Ops) -> DecisionReceipt:
        return await ops.rep_action(opportunity_id, "resubmit", who.email, body.comment)

    @app.post("/opportunities/{opportunity_id}/recall", response_model=DecisionReceipt)
    async def recall(opportunity_id: str, body: RepBody, who: User, ops: Ops) -> DecisionReceipt:
        return await ops.rep_action(opportunity_id, "recall", who.email, body.comment)

    return app
