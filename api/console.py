"""The specialist console: server-rendered pages in the same app as the API.

Specialists live in a queue all day, so the console is plain HTML forms over
the very operations the API and the CLI use (`workers.approvals.Approvals`):
no front-end build step, no JavaScript needed, and every refusal the workflow
gives is shown inline with the status and sentence the API would answer
(`api.errors`).

Sign-in stores the user's roster token in an HttpOnly, SameSite=Lax cookie
scoped to `/console`. Every state-changing form carries a CSRF token, an HMAC
of that cookie token under a per-app random key, checked before anything is
sent to the workflow. Who may decide is still the workflow's call (it alone
knows the round, the region cover and the four-eyes rule); the console only
hides controls a role can never use and refuses auditors outright.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from temporalio.service import RPCError

from api.deps import approvals
from api.errors import answer_for
from api.queue_view import queue_entries, sla_clock
from domain.calendar import calendar_for
from domain.errors import OmError
from domain.messages import ApprovalStatus
from domain.models import Region, Stage
from domain.reasons import ReasonCode, UnknownReasonCode, parse_reason_codes
from domain.settings import Role, RosterUser, Settings
from workers.approvals import Approvals

PREFIX = "/console"
SESSION_COOKIE = "om_console"
FLASH_COOKIE = "om_console_flash"
CSRF_FIELD = "csrf"
CONSOLE_QUEUE_ROWS = 200
"""Rows a queue page shows: a person works from the top, and a page of
thousands (a quarter-end backlog) takes seconds to render and to scroll."""
DEMO_TOKEN_PREFIX = "demo-"
"""Roster users whose token starts with this are offered as one-click demo
sign-ins; anyone else must paste their token."""

_HERE = Path(__file__).parent
_STATIC = _HERE / "static"
_OPPORTUNITY_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
_MAX_FORM_BYTES = 64 * 1024

ROLE_LABELS = {
    Role.ORDER_MANAGEMENT: "Order Management",
    Role.BILLING: "Billing",
    Role.AUDITOR: "Auditor (read-only)",
    Role.REP: "Sales rep",
}
STAGE_LABELS = {
    "om_review": "Order Management review",
    "finance_review": "Billing review",
}
STAGE_SHORT = {"om_review": "OM review", "finance_review": "Billing review"}
_ERROR_TITLES = {
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Already decided or not pending",
    422: "Incomplete request",
    429: "Busy: try again in a moment",
    503: "Temporal is unavailable",
}
_PENDING_FOR_REP = {
    "recall": (Stage.OM_REVIEW.value, Stage.FINANCE_REVIEW.value),
    "resubmit": (Stage.REJECTED.value, Stage.RECALLED.value),
}


@dataclass(frozen=True)
class InlineError:
    """A refusal or failure shown on the page it happened on."""

    status: int
    message: str

    @property
    def title(self) -> str:
        return _ERROR_TITLES.get(self.status, "Error")


# ---- formatting (Jinja filters) ---------------------------------------------------


def _when(value: datetime | None) -> str:
    """An instant as people compare it across regions: in UTC, to the minute."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(value: date | None) -> str:
    return value.isoformat() if value else "—"


def _business_hours(seconds: float | None) -> str:
    """`7h 05m` of business time; `overdue 1h 10m` once the deadline passed."""
    if seconds is None:
        return "—"
    minutes = int(abs(seconds) // 60)
    text = f"{minutes // 60}h {minutes % 60:02d}m"
    return f"overdue {text}" if seconds < 0 else text


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters.update(when=_when, day=_day, business_hours=_business_hours, money=_money)
    templates.env.globals.update(
        role_labels=ROLE_LABELS,
        stage_labels=STAGE_LABELS,
        stage_short=STAGE_SHORT,
        Role=Role,
        prefix=PREFIX,
    )
    return templates


# ---- session and CSRF ----------------------------------------------------------------


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _key(app: FastAPI) -> bytes:
    """The app's CSRF key, made on first use: forms from before a restart
    are refused (reload the page), which is the safe direction."""
    key = getattr(app.state, "console_csrf_key", None)
    if key is None:
        key = app.state.console_csrf_key = secrets.token_bytes(32)
    return key


def _session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def _signed_in(request: Request) -> RosterUser | None:
    token = _session_token(request)
    return _settings(request).user_by_token(token) if token else None


def csrf_token(request: Request) -> str:
    """The CSRF token for the signed-in session: HMAC-SHA256 of its cookie
    token, so a page from another site cannot know it."""
    token = _session_token(request) or ""
    return hmac.new(_key(request.app), token.encode(), hashlib.sha256).hexdigest()


def _csrf_ok(request: Request, form: dict[str, list[str]]) -> bool:
    given = (form.get(CSRF_FIELD) or [""])[0]
    return bool(given) and hmac.compare_digest(given, csrf_token(request))


async def _form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a console form (every form here is one; no
    multipart parser is needed)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _cross_site(request: Request) -> bool:
    """A browser's POST from another site (its Origin names another host).

    Sign-in has no session yet to derive a CSRF token from, so this is its
    guard against a page elsewhere signing a visitor in as someone else.
    Requests without an Origin header (non-browser clients) pass.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


def _first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return (form.get(name) or [default])[0].strip()


def _safe_next(target: str | None) -> str:
    """Only ever redirect into the console after sign-in (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/queue"


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)


def _is_demo(user: RosterUser) -> bool:
    return bool(user.token and user.token.startswith(DEMO_TOKEN_PREFIX))


# ---- workflow access -------------------------------------------------------------------


async def _ops(request: Request) -> Approvals:
    return await approvals(request)


def _error_for(error: Exception) -> InlineError:
    """The API's status code and sentence for a failure, for inline display.

    Domain errors take their status from `api.errors`, as the JSON API
    does; Temporal not answering (an RPC error, or no connection) is a 503."""
    if isinstance(error, OmError | UnknownReasonCode):
        return InlineError(answer_for(error).status, str(error))
    if isinstance(error, RPCError):
        return InlineError(503, f"Temporal could not answer: {error}")
    return InlineError(503, f"could not reach Temporal: {error}")


_HANDLED = (OmError, UnknownReasonCode, RPCError, RuntimeError)
"""Failures shown inline; RPCError/RuntimeError are Temporal being unreachable."""


# ---- the router ---------------------------------------------------------------------------


def _set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None = None
) -> None:
    """Console cookies: HttpOnly, SameSite=Lax, scoped to the console, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def console_router() -> APIRouter:
    """Routes under /console (left out of the OpenAPI schema: they are pages)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    templates = _templates()

    def page(
        request: Request,
        template: str,
        user: RosterUser | None,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        flash = request.cookies.get(FLASH_COOKIE)
        response = templates.TemplateResponse(
            request,
            template,
            {
                "user": user,
                "csrf": csrf_token(request) if user else "",
                "flash": unquote(flash) if flash and request.method == "GET" else None,
                **context,
            },
            status_code=status_code,
        )
        if flash and request.method == "GET":
            response.delete_cookie(FLASH_COOKIE, path=PREFIX)
        return response

    def redirect_with_flash(request: Request, target: str, message: str) -> RedirectResponse:
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, request, FLASH_COOKIE, quote(message[:500]), max_age=60)
        return response

    # ---- static and entry ----------------------------------------------------

    @router.get("/static/console.css")
    async def stylesheet() -> FileResponse:
        return FileResponse(
            _STATIC / "console.css",
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @router.get("")
    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/queue", status_code=303)

    # ---- sign in / out --------------------------------------------------------

    def login_page(
        request: Request, next_target: str, error: InlineError | None = None
    ) -> Response:
        demo = [u for u in _settings(request).roster if _is_demo(u)]
        return page(
            request,
            "login.html",
            _signed_in(request),
            status_code=error.status if error else 200,
            demo_users=demo,
            next=_safe_next(next_target),
            error=error,
        )

    @router.get("/login")
    async def login_form(request: Request, next: str = "") -> Response:
        return login_page(request, next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        """Sign in by demo user (one click) or by pasting a roster token."""
        form = await _form(request)
        target = _safe_next(_first(form, "next"))
        if _cross_site(request):
            return login_page(
                request, target, InlineError(403, "sign-in must come from this console's page")
            )
        settings = _settings(request)
        email = _first(form, "email")
        token = _first(form, "token")
        user: RosterUser | None = None
        if email:
            found = settings.user(email)
            user = found if found is not None and _is_demo(found) else None
            if user is None:
                return login_page(
                    request, target, InlineError(401, f"{email} is not a demo user: paste a token")
                )
        elif token:
            user = settings.user_by_token(token)
            if user is None:
                return login_page(request, target, InlineError(401, "unknown token"))
        else:
            return login_page(
                request, target, InlineError(422, "pick a demo user or paste your token")
            )
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, request, SESSION_COOKIE, user.token or "")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        if _signed_in(request) is not None and not _csrf_ok(request, form):
            return csrf_refused(request)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    def csrf_refused(request: Request) -> Response:
        return page(
            request,
            "error.html",
            _signed_in(request),
            status_code=403,
            error=InlineError(
                403,
                "the form did not carry this session's CSRF token (it may be from before "
                "a restart or from another site): reload the page and try again",
            ),
        )

    # ---- queue ------------------------------------------------------------------

    async def signed_form(
        request: Request,
    ) -> tuple[RosterUser, dict[str, list[str]]] | Response:
        """The signed-in user and their CSRF-checked form, or the response
        that turns the request away (sign in first / 403)."""
        user = _signed_in(request)
        if user is None:
            return _to_login(request)
        form = await _form(request)
        if not _csrf_ok(request, form):
            return csrf_refused(request)
        return user, form

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
            items = await (await _ops(request)).queue(Region(region) if region else None)
        except _HANDLED as exc:
            # A refusal being reported stays the headline over a failed listing.
            items, error = [], error or _error_for(exc)
            status_code = error.status
        items = [i for i in items if not stage or i.stage == stage]
        total = len(items)
        items = items[:CONSOLE_QUEUE_ROWS]
        now = datetime.now(UTC)
        policy = _settings(request).calendar
        for position, (entry, clock) in enumerate(queue_entries(items, policy, now), start=1):
            rows.append(
                {
                    "position": position,
                    "item": entry,
                    "clock": clock,
                    "deadline_local": _local(entry.sla_deadline, entry.queue_region, request),
                    "selectable": user.role == Role.BILLING and entry.stage == "finance_review",
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
            bulk=user.role == Role.BILLING,
        )

    @router.get("/queue")
    async def queue(request: Request) -> Response:
        user = _signed_in(request)
        if user is None:
            return _to_login(request)
        return await queue_page(request, user)

    @router.post("/queue/approve")
    async def approve_selected(request: Request) -> Response:
        """Billing's bulk approval: one Update per selected row, each row's
        own answer reported (one refusal does not stop the others)."""
        checked = await signed_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        region, stage = _first(form, "region"), _first(form, "stage")
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
            ops = await _ops(request)
        except _HANDLED as exc:
            return await queue_page(
                request, user, error=_error_for(exc), region=region, stage=stage
            )

        async def approve_one(opportunity_id: str) -> dict[str, Any]:
            if not _OPPORTUNITY_ID.match(opportunity_id):
                return {"id": opportunity_id, "ok": False, "status": 422, "message": "not an id"}
            try:
                receipt = await ops.decide(opportunity_id, user.email, "finance", "approve")
            except _HANDLED as exc:
                failure = _error_for(exc)
                return {
                    "id": opportunity_id,
                    "ok": False,
                    "status": failure.status,
                    "message": failure.message,
                }
            return {"id": opportunity_id, "ok": True, "status": 200, "message": receipt.message}

        results = list(await asyncio.gather(*(approve_one(i) for i in dict.fromkeys(ids))))
        return await queue_page(request, user, results=results, region=region, stage=stage)

    # ---- opportunity ---------------------------------------------------------------

    @router.get("/opportunities")
    async def find_opportunity(request: Request, id: str = "") -> Response:
        """The header's "open by id" box (a GET form, so it needs no CSRF)."""
        user = _signed_in(request)
        if user is None:
            return _to_login(request)
        wanted = id.strip()
        if not _OPPORTUNITY_ID.match(wanted):
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
        if not _OPPORTUNITY_ID.match(opportunity_id):
            error = InlineError(422, f"{opportunity_id!r} is not a Salesforce opportunity id")
            status_code = 422
        else:
            try:
                status = await (await _ops(request)).status(opportunity_id)
            except _HANDLED as exc:
                failure = _error_for(exc)
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
        user = _signed_in(request)
        if user is None:
            return _to_login(request)
        return await opportunity_page(request, user, opportunity_id)

    @router.post("/opportunities/{opportunity_id}/decide")
    async def decide(request: Request, opportunity_id: str) -> Response:
        """An OM or Billing approve / reject, sent as the workflow Update."""
        checked = await signed_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        stage, action = _first(form, "stage"), _first(form, "action")
        submitted = {
            "stage": stage,
            "action": action,
            "comment": _first(form, "comment"),
            "reasons": form.get("reasons", []),
            "acknowledged": form.get("acknowledged", []),
        }

        def refuse(status: int, message: str) -> Any:
            return opportunity_page(
                request, user, opportunity_id, InlineError(status, message), submitted
            )

        if user.role == Role.AUDITOR:
            return await refuse(403, f"{user.email} is an auditor: auditors have read-only access")
        if stage not in ("om", "finance") or action not in ("approve", "reject"):
            return await refuse(422, "the form must name a stage (om, finance) and an action")
        round_text = _first(form, "round")
        if round_text and not round_text.isdigit():
            return await refuse(422, f"round {round_text!r} is not a number")
        try:
            reasons = [code.value for code in parse_reason_codes(submitted["reasons"])]
            receipt = await (await _ops(request)).decide(
                opportunity_id,
                user.email,
                stage,  # type: ignore[arg-type]
                action,  # type: ignore[arg-type]
                reasons,
                submitted["comment"],
                int(round_text) if round_text else None,
                [a for a in submitted["acknowledged"] if a],
                update_id=_update_id(user, form),
            )
        except _HANDLED as exc:
            failure = _error_for(exc)
            return await refuse(failure.status, failure.message)
        return redirect_with_flash(
            request, f"{PREFIX}/opportunities/{opportunity_id}", receipt.message
        )

    @router.post("/opportunities/{opportunity_id}/rep")
    async def rep_action(request: Request, opportunity_id: str) -> Response:
        """The owning rep's recall or resubmit."""
        checked = await signed_form(request)
        if isinstance(checked, Response):
            return checked
        user, form = checked
        action = _first(form, "action")
        submitted = {"action": action, "comment": _first(form, "comment")}
        error: InlineError | None = None
        if user.role == Role.AUDITOR:
            error = InlineError(403, f"{user.email} is an auditor: auditors have read-only access")
        elif action not in _PENDING_FOR_REP:
            error = InlineError(422, "the action must be recall or resubmit")
        else:
            try:
                receipt = await (await _ops(request)).rep_action(
                    opportunity_id,
                    action,
                    user.email,
                    submitted["comment"],
                    update_id=_update_id(user, form),
                )
            except _HANDLED as exc:
                error = _error_for(exc)
        if error is not None:
            return await opportunity_page(request, user, opportunity_id, error, submitted)
        return redirect_with_flash(
            request, f"{PREFIX}/opportunities/{opportunity_id}", receipt.message
        )

    return router


def _local(at: datetime | None, region: Region | str | None, request: Request) -> str:
    """`at` on the region team's wall clock, e.g. `Fri 07:00 PST`."""
    if at is None or region is None:
        return ""
    local = calendar_for(region, _settings(request).calendar).to_local(at)
    return local.strftime("%a %d %b %H:%M %Z")


_FORM_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _update_id(user: RosterUser, form: dict[str, list[str]]) -> str | None:
    """The Update id of a decision form: the same rendered form sent twice (a
    double click, a resend after a lost answer) gets the first answer back
    instead of a refusal. Scoped to the person, like the API's Idempotency-Key."""
    form_id = _first(form, "form_id")
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
            _settings(request).calendar,
            datetime.now(UTC),
            status.breached,
        )
    flagged = {f.code for f in status.findings}
    judgment = [f for f in status.findings if f.severity == "acknowledge"]
    contacts = []
    if opp is not None:
        contacts = [
            ("Sold To", opp.quote.sold_to),
            ("Bill To", opp.quote.bill_to),
            ("Invoice Owner", opp.quote.invoice_owner),
        ]
    return {
        "status": status,
        "opp": opp,
        "contacts": contacts,
        "clock": clock,
        "queue_region": queue_region,
        "deadline_local": _local(status.sla_deadline, queue_region, request),
        "judgment": judgment,
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
