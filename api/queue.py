"""`GET /queue`: open reviews in priority order, from the app's queue snapshot.

Specialists poll this all day, so it answers from a shared listing kept warm
in the background (`lister`, started by the app's lifespan) instead of
listing workflows on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import State

from api.authz import QueueReader
from api.deps import Ops, temporal_client
from api.errors import error_responses
from api.queue_view import QueueEntry, queue_json
from domain.authorization import readable_rows
from domain.models import Region
from om.approvals import Approvals
from om.queue_snapshot import Loader

router = APIRouter()


async def lister(state: State) -> Loader:
    """The listing the app's queue snapshot is refreshed with (connecting to
    Temporal first if the app has no client yet)."""
    return Approvals(await temporal_client(state), state.settings).list_queue


_FRESHNESS_HEADERS = {
    "X-Queue-Listed-At": {
        "description": "When the listing these rows come from began (ISO 8601, UTC)",
        "schema": {"type": "string", "format": "date-time"},
    },
    "X-Queue-Age-Seconds": {
        "description": "How old that listing is, in seconds",
        "schema": {"type": "number"},
    },
    "X-Queue-Stale": {
        "description": "`true` when the listing is older than promised "
        "(`queue_cache_seconds`) and a fresh one is under way",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
}


@router.get(
    "/queue",
    response_model=list[QueueEntry],
    responses={
        200: {"description": "Open reviews", "headers": _FRESHNESS_HEADERS},
        **error_responses(401, 403, 422, 503),
    },
)
async def queue(
    request: Request,
    reader: QueueReader,
    ops: Ops,
    region: Region | None = None,
    limit: int | None = Query(
        default=None, ge=1, le=10_000, description="Only the first `limit` rows"
    ),
) -> Response:
    """Open reviews in priority order, each with what a specialist decides
    on: opportunity and account name, amount and currency, round, pre-check
    findings (hard / judgment), clock state and business time left in the
    queue region's calendar, Billing's reviewable-from and due dates, and
    why a row is in a region's queue that is not its own (`cover_reason`).

    Freshness: rows come from a listing of every open review, at most
    `queue_cache_seconds` old when listing is quick (the request waits for a
    new one); on a large queue an older listing may be served while a new
    one runs, and the headers say so: `X-Queue-Listed-At` (when the served
    listing began), `X-Queue-Age-Seconds`, and `X-Queue-Stale: true` when
    it is older than promised. Decisions and submissions made through this
    process show in the next listing.

    Rows are those the caller may read: Billing and auditors every row,
    managers their regions' rows, specialists their regions' rows plus the
    breached reviews and end-of-period cover they may take. Reps have no
    queue (403): they open their own deals by id."""
    state = request.app.state
    settings = state.settings
    # Only the rows the caller may read (specialists: their regions plus the
    # cover and breach cases they may take), whatever region they ask for.
    items = readable_rows(reader, await ops.queue(region), datetime.now(UTC), settings)
    # Serialized here, not by FastAPI, which would validate every row again.
    snapshot = state.queue_snapshot
    age, stale, listed_at = snapshot.age_seconds(), snapshot.stale, snapshot.listed_at
    body = queue_json(items[:limit], settings.calendar, datetime.now(UTC), settings.booking)
    response = Response(body, media_type="application/json")
    if listed_at is not None:
        response.headers["X-Queue-Listed-At"] = listed_at.isoformat()
    response.headers["X-Queue-Age-Seconds"] = f"{age:.1f}"
    response.headers["X-Queue-Stale"] = "true" if stale else "false"
    return response
