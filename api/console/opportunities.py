"""The console's opportunity pages: open by id, the opportunity itself, and
the decision and rep-action forms on it.

Controls follow the role and the stage only; whether this person may decide
this round (region cover, four eyes, own deal) is the workflow's answer,
shown inline when it refuses. A form rendered once and sent twice gets the
first answer back (see `_update_id`).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from api.console.shared import (
    HANDLED,
    OPPORTUNITY_ID,
    PREFIX,
    InlineError,
    error_for,
    first,
    local_time,
    ops_for,
    page,
    redirect_with_flash,
    settings_of,
    signed_form,
    signed_in,
    to_login,
)
from api.queue_view import sla_clock
from domain.messages import ApprovalStatus
from domain.models import SalesRoute, Stage
from domain.policy import Role, RosterUser
from domain.reasons import ReasonCode, parse_reason_codes
from domain.wording import history_label, stage_words

_PENDING_FOR_REP = {
    "recall": (Stage.OM_REVIEW.value, Stage.FINANCE_REVIEW.value),
    "resubmit": (Stage.REJECTED.value, Stage.RECALLED.value),
}
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/opportunities")
async def find_opportunity(request: Request, id: str = "") -> Response:
    """The header's "open by id" box (a GET form, so it needs no CSRF)."""
    user = signed_in(request)
    if user is None:
        return to_login(request)
    wanted = id.strip()
    if not OPPORTUNITY_ID.match(wanted):
        return page(
            request,
            "error.html",
            user,
            status_code=422,
            error=InlineError(422, f"{wanted!r} is not a Salesforce opportunity id"),
        )
    return RedirectResponse(f"{PREFIX}/opportunities/{wanted}", status_code=303)


async def opportunity_page(
    request: Request,
    user: RosterUser,
    opportunity_id: str,
    error: InlineError | None = None,
    submitted: dict[str, Any] | None = None,
) -> Response:
    status: ApprovalStatus | None = None
    status_code = error.status if error else 200
    if not OPPORTUNITY_ID.match(opportunity_id):
        error = InlineError(422, f"{opportunity_id!r} is not a Salesforce opportunity id")
        status_code = 422
    else:
        try:
            # 404 for a deal this user may not read, as for an unknown id.
            status = await (await ops_for(request)).status_for(user, opportunity_id)
        except HANDLED as exc:
            failure = error_for(exc)
            # A refusal stays the headline; a failed read after it is secondary.
            error = error or failure
            status_code = error.status
    return page(
        request,
        "opportunity.html",
        user,
        status_code=status_code,
        opportunity_id=opportunity_id,
        error=error,
        submitted=submitted or {},
        **(_opportunity_context(request, user, status) if status else {"status": None}),
    )


@router.get("/opportunities/{opportunity_id}")
async def opportunity(request: Request, opportunity_id: str) -> Response:
    user = signed_in(request)
    if user is None:
        return to_login(request)
    return await opportunity_page(request, user, opportunity_id)


@router.post("/opportunities/{opportunity_id}/decide")
async def decide(request: Request, opportunity_id: str) -> Response:
    """An OM or Billing approve / reject, sent as the workflow Update."""
    checked = await signed_form(request)
    if isinstance(checked, Response):
        return checked
    user, form = checked
    stage, action = first(form, "stage"), first(form, "action")
    submitted: dict[str, Any] = {
        "stage": stage,
        "action": action,
        "comment": first(form, "comment"),
        "reasons": form.get("reasons", []),
        "acknowledged": form.get("acknowledged", []),
        "overrides": form.get("overrides", []),
    }

    async def refuse(status: int, message: str) -> Response:
        return await opportunity_page(
            request, user, opportunity_id, InlineError(status, message), submitted
        )

    if user.role == Role.AUDITOR:
        return await refuse(403, f"{user.email} is an auditor: auditors have read-only access")
    if user.role == Role.MANAGER:
        return await refuse(403, f"{user.email} is a manager: managers decide nothing")
    if stage not in ("om", "finance") or action not in ("approve", "reject"):
        return await refuse(422, "the form must name a stage (om, finance) and an action")
    round_text = first(form, "round")
    if round_text and not round_text.isdigit():
        return await refuse(422, f"round {round_text!r} is not a number")
    try:
        reasons = [code.value for code in parse_reason_codes(submitted["reasons"])]
        ops = await ops_for(request)
        await ops.status_for(user, opportunity_id)  # not theirs to read: 404, nothing sent
        receipt = await ops.decide(
            opportunity_id,
            user,
            stage,  # type: ignore[arg-type]
            action,  # type: ignore[arg-type]
            reasons,
            submitted["comment"],
            int(round_text) if round_text else None,
            [a for a in submitted["acknowledged"] if a],
            update_id=_update_id(user, form),
            overrides=[o for o in submitted["overrides"] if o] if action == "approve" else [],
        )
    except HANDLED as exc:
        failure = error_for(exc)
        return await refuse(failure.status, failure.message)
    return redirect_with_flash(request, f"{PREFIX}/opportunities/{opportunity_id}", receipt.message)


@router.post("/opportunities/{opportunity_id}/rep")
async def rep_action(request: Request, opportunity_id: str) -> Response:
    """The owning rep's recall or resubmit."""
    checked = await signed_form(request)
    if isinstance(checked, Response):
        return checked
    user, form = checked
    action = first(form, "action")
    submitted = {"action": action, "comment": first(form, "comment")}
    error: InlineError | None = None
    if user.role == Role.AUDITOR:
        error = InlineError(403, f"{user.email} is an auditor: auditors have read-only access")
    elif user.role == Role.MANAGER:
        error = InlineError(403, f"{user.email} is a manager: managers decide nothing")
    elif action not in _PENDING_FOR_REP:
        error = InlineError(422, "the action must be recall or resubmit")
    else:
        try:
            ops = await ops_for(request)
            await ops.status_for(user, opportunity_id)  # not their deal: 404, nothing sent
            receipt = await ops.rep_action(
                opportunity_id,
                action,
                user,
                submitted["comment"],
                update_id=_update_id(user, form),
            )
        except HANDLED as exc:
            error = error_for(exc)
    if error is not None:
        return await opportunity_page(request, user, opportunity_id, error, submitted)
    return redirect_with_flash(request, f"{PREFIX}/opportunities/{opportunity_id}", receipt.message)


def _update_id(user: RosterUser, form: dict[str, list[str]]) -> str | None:
    """The Update id of a decision form: the same rendered form sent twice (a
    double click, a resend after a lost answer) gets the first answer back
    instead of a refusal. Scoped to the person, like the API's Idempotency-Key."""
    form_id = first(form, "form_id")
    return f"{user.email}:console:{form_id}" if _FORM_ID.fullmatch(form_id) else None


def _opportunity_context(
    request: Request, user: RosterUser, status: ApprovalStatus
) -> dict[str, Any]:
    """What the opportunity page shows and which controls this user gets.

    Controls follow the role and the stage only: whether this person may
    decide this round (region cover, four eyes, own deal) is the workflow's
    answer, shown inline when it refuses.
    """
    # The full opportunity is in the status from the workflow version that
    # publishes it; older workflows answer without it.
    opp = getattr(status, "opportunity", None)
    owner_email = opp.owner.email.lower() if opp is not None else None
    is_owner = owner_email is None or owner_email == user.email.lower()
    queue_region = status.queue_region or status.region
    clock = None
    if status.stage == Stage.OM_REVIEW.value:
        clock = sla_clock(
            status.sla_deadline,
            queue_region,
            settings_of(request).calendar,
            datetime.now(UTC),
            status.breached,
        )
    flagged = {f.code for f in status.findings}
    flagged_fields = {f.field for f in status.findings}
    judgment = [f for f in status.findings if f.severity == "acknowledge"]
    hard = [f for f in status.findings if f.severity == "hard"]

    def local(at: datetime | None) -> Markup:
        """`at` on the queue region's clock, UTC on hover (and for machines)."""
        if at is None:
            return Markup("—")
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        utc = at.astimezone(UTC)
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            utc.isoformat(),
            utc.strftime("%Y-%m-%d %H:%M UTC"),
            local_time(at, queue_region, request),
        )

    def flagged_field(path: str) -> bool:
        """The pre-check holds `path` (or the part it belongs to) unmet."""
        return any(path == f or path.startswith(f + ".") for f in flagged_fields)

    contacts = []
    if opp is not None:
        contacts = [
            ("Sold To", opp.quote.sold_to, "quote.sold_to"),
            ("Bill To", opp.quote.bill_to, "quote.bill_to"),
            ("Invoice Owner", opp.quote.invoice_owner, "quote.invoice_owner"),
        ]
    return {
        "status": status,
        "opp": opp,
        "contacts": contacts,
        "clock": clock,
        "queue_region": queue_region,
        "deadline_local": local_time(status.sla_deadline, queue_region, request),
        "local": local,
        "flagged_field": flagged_field,
        "order_form_note": _order_form_note(opp),
        "history_label": history_label,
        "stage_words": stage_words,
        "judgment": judgment,
        "hard": hard,
        "reason_codes": [(code.value, code.message, code.value in flagged) for code in ReasonCode],
        "can_om": user.role == Role.ORDER_MANAGEMENT and status.stage == Stage.OM_REVIEW.value,
        "can_finance": user.role == Role.BILLING and status.stage == Stage.FINANCE_REVIEW.value,
        "can_recall": user.role == Role.REP
        and is_owner
        and status.stage in _PENDING_FOR_REP["recall"],
        "can_resubmit": user.role == Role.REP
        and is_owner
        and status.stage in _PENDING_FOR_REP["resubmit"],
        "outside_region": user.role == Role.ORDER_MANAGEMENT
        and queue_region not in user.regions
        and status.region not in user.regions,
        # One per rendering: its forms' Update ids (see `_update_id`).
        "form_nonce": secrets.token_urlsafe(12),
    }


def _order_form_note(opp: Any) -> str | None:
    """Why the Order Form is not asked for, when it is not (so an empty form
    is not shown as missing), else None: the pre-check's own rule."""
    if opp is None or opp.order_form.attached:
        return None
    if opp.sales_route != SalesRoute.DIRECT:
        return (
            f"Not applicable: a {opp.sales_route} deal books on the partner's paperwork "
            "(PO, EULA or private offer), not on a customer Order Form."
        )
    if opp.msa_in_place:
        return "Not applicable: a signed MSA is in place."
    return None
