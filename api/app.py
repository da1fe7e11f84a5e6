"""The HTTP API (FastAPI): the same operations as the `om` command.

Bearer tokens identify roster users (demo tokens are printed by `make run`).
Every refusal is JSON: `api.errors.ErrorBody` (`code`, `message`, field errors).

This module only assembles the app: its state, metrics, error handlers and
the routers, one module per resource (`queue`, `opportunities`, `intake`,
`codec`) plus the console's pages and the offline API docs (`docs`). Routes
read what they need from `request.app.state`, so the routers are plain
module-level objects that any app (tests build many) can include.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from temporalio.client import Client

from api import codec, console, intake, opportunities, queue, reports
from api.console.shared import install_sessions
from api.contract import install_contract
from api.docs import install_docs
from api.errors import install_error_handlers
from api.metrics import install_metrics
from om.queue_snapshot import QueueSnapshot
from om.settings import Settings, load_settings


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keep the queue snapshot warm while the app serves."""
    snapshot: QueueSnapshot = app.state.queue_snapshot
    warm = asyncio.create_task(snapshot.keep_warm(partial(queue.lister, app.state)))
    yield
    warm.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await warm
    await snapshot.close()


async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    """The app; `client` is injected by `om dev` and tests, else connected lazily.
    With `api_metrics` on it serves Prometheus metrics at GET /metrics."""
    app = FastAPI(
        title="Order Management orchestrator",
        description="Booking approval of sales opportunities on Temporal.",
        lifespan=_lifespan,
        # Served by api.docs from packaged assets: the defaults load a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings or load_settings()
    app.state.queue_snapshot = QueueSnapshot(app.state.settings.queue_cache_seconds)
    app.state.client = client
    app.state.payload_codec = None  # built from settings on first use (api.codec)
    if app.state.settings.api_metrics:
        install_metrics(app)
    install_error_handlers(app)
    app.include_router(intake.router)
    app.include_router(codec.router)
    app.include_router(console.router)
    install_sessions(app)
    app.add_api_route("/health", health, methods=["GET"])
    app.include_router(queue.router)
    app.include_router(opportunities.router)
    app.include_router(reports.router)
    install_contract(app)
    install_docs(app)
    return app
