"""The console's queue page, and Billing's bulk approval from it.

A person works a queue from the top, so the page shows its first
`CONSOLE_QUEUE_ROWS` rows, filtered to where the role starts (OM its
region's review, Billing the finance review) unless the filters say
otherwise.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console.shared import (
    HANDLED,
    OPPORTUNITY_ID,
    PREFIX,
    STAGE_LABELS,
    InlineError,
    error_for,
    first,
    ops_for,
    page,
    settings_of,
    signed_form,
    signed_in,
    to_login,
)
from api.queue_view import queue_entries
from domain.authorization import may_list_queue, readable_rows
from domain.models import Region
from domain.policy import Role, RosterUser

CONSOLE_QUEUE_ROWS = 200
"""Rows a queue page shows: a person works from the top, and a page of
thousands (a quarter-end backlog) takes seconds to render and to scroll."""

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def default_filters(user: RosterUser) -> tuple[str, str]:
    """(region, stage) a role starts from: OM its own region's review,
    Billing the finance review queue of every region, others everything."""
    if user.role == Role.ORDER_MANAGEMENT:
        region = user.regions[0].value if len(user.regions) == 1 else ""
        return region, "om_review"
    if user.role == Role.BILLING:
        return "", "finance_review"
    return "", ""


async def queue_page(
    request: Request,
    user: RosterUser,
    results: list[dict[str, Any]] | None = None,
    error: InlineError | None = None,
    region: str | None = None,
    stage: str | None = None,
) -> Response:
    default_region, default_stage = default_filters(user)
    region = request.query_params.get("region") if region is None else region
    stage = request.query_params.get("stage") if stage is None else stage
    region = default_region if region is None else region.strip().upper()
    stage = default_stage if stage is None else stage.strip()
    rows: list[dict[str, Any]] = []
    status_code = error.status if error else 200
    if region and region not in Region.__members__:
        error = InlineError(422, f"unknown region {region!r}: use AMER, EMEA or APAC")
        status_code, region = 422, ""
    if stage and stage not in STAGE_LABELS:
        error = InlineError(422, f"unknown stage {stage!r}: use om_review or finance_review")
        status_code, stage = 422, ""
    try:
        # Reps list nothing: queue rows name other people's deals (may_list_queue).
        items = (
            await (await ops_for(request)).queue(Region(region) if region else None)
            if may_list_queue(user)
            else []
        )
    except HANDLED as exc:
        # A refusal being reported stays the headline over a failed listing.
        items, error = [], error or error_for(exc)
        status_code = error.status
    now = datetime.now(UTC)
    settings = settings_of(request)
    items = [i for i in readable_rows(user, items, now, settings) if not stage or i.stage == stage]
    total = len(items)
    items = items[:CONSOLE_QUEUE_ROWS]
    snapshot = request.app.state.queue_snapshot
    freshness = {
        "listed_at": snapshot.listed_at or now,
        "age": snapshot.age_seconds(),
        "stale": snapshot.stale,
    }
    entries = queue_entries(items, settings.calendar, now, settings.booking)
    for position, (entry, clock) in enumerate(entries, start=1):
        rows.append(
            {
                "position": position,
                "item": entry,
                "clock": clock,
                # Billing's rows before their date are not offered: the
                # workflow would refuse them, one by one, after the click.
                "selectable": user.role == Role.BILLING
                and entry.stage == "finance_review"
                and entry.reviewable_now,
            }
        )
    return page(
        request,
        "queue.html",
        user,
        status_code=status_code,
        rows=rows,
        total=total,
        region=region,
        stage=stage,
        regions=[r.value for r in Region],
        results=results,
        error=error,
        now=now,
        freshness=freshness,
        bulk=user.role == Role.BILLING,
    )


@router.get("/queue")
async def queue(request: Request) -> Response:
    user = signed_in(request)
    if user is None:
        return to_login(request)
    return await queue_page(request, user)


@router.post("/queue/approve")
async def approve_selected(request: Request) -> Response:
    """Billing's bulk approval: one Update per selected row, each row's
    own answer reported (one refusal does not stop the others)."""
    checked = await signed_form(request)
    if isinstance(checked, Response):
        return checked
    user, form = checked
    region, stage = first(form, "region"), first(form, "stage")
    if user.role != Role.BILLING:
        who = "an auditor" if user.role == Role.AUDITOR else f"role {user.role.value}"
        return await queue_page(
            request,
            user,
            error=InlineError(
                403, f"{user.email} is {who}: only Billing approves the finance review"
            ),
            region=region,
            stage=stage,
        )
    ids = [i.strip() for i in form.get("ids", []) if i.strip()]
    if not ids:
        return await queue_page(
            request,
            user,
            error=InlineError(422, "select at least one row to approve"),
            region=region,
            stage=stage,
        )
    try:
        ops = await ops_for(request)
    except HANDLED as exc:
        return await queue_page(request, user, error=error_for(exc), region=region, stage=stage)

    async def approve_one(opportunity_id: str) -> dict[str, Any]:
        if not OPPORTUNITY_ID.match(opportunity_id):
            return {"id": opportunity_id, "ok": False, "status": 422, "message": "not an id"}
        try:
            receipt = await ops.decide(opportunity_id, user, "finance", "approve")
        except HANDLED as exc:
            failure = error_for(exc)
            return {
                "id": opportunity_id,
                "ok": False,
                "status": failure.status,
                "message": failure.message,
            }
        return {"id": opportunity_id, "ok": True, "status": 200, "message": receipt.message}

    results = list(await asyncio.gather(*(approve_one(i) for i in dict.fromkeys(ids))))
    return await queue_page(request, user, results=results, region=region, stage=stage)
