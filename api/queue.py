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
from domain.models import Region
from om.approvals import Approvals
from om.queue_snapshot import Loader

router = APIRouter()


async def lister(state: State) -> Loader:
    """The listing the app's queue snapshot is refreshed with (connecting to
    Temporal first if the app has no client yet)."""
    return Approvals(await temporal_client(state), state.settings).list_queue


@router.get(
    "/queue", response_model=list[QueueEntry], responses=error_responses(401, 403, 422, 503)
)
async def queue(
    request: Request,
    _: QueueReader,
    ops: Ops,
    region: Region | None = None,
    limit: int | None = Query(
        default=None, ge=1, le=10_000, description="Only the first `limit` rows"
    ),
) -> Response:
    """Open reviews in priority order, each with the business time left
    on its SLA in its queue region's calendar. Served from a listing at
    most `queue_cache_seconds` old (header `X-Queue-Listed-At`); the
    caller's own decisions are reflected at once. Reps have no queue (403):
    they open their own deals by id."""
    state = request.app.state
    items = await ops.queue(region)
    # Serialized here, not by FastAPI, which would validate every row again.
    body = queue_json(items[:limit], state.settings.calendar, datetime.now(UTC))
    response = Response(body, media_type="application/json")
    listed_at = state.queue_snapshot.listed_at
    if listed_at is not None:
        response.headers["X-Queue-Listed-At"] = listed_at.isoformat()
    return response
