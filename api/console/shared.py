"""What every console page shares: rendering, the session cookie, CSRF,
flash messages, inline errors and the Jinja filters.

The page modules (`session`, `queue`, `opportunities`) hold routes and what
only their pages need; anything two of them use lives here, so a page reads
top to bottom without reaching into a sibling. Templates are loaded once per
process, and nothing here keeps per-app state but the CSRF key on
`app.state`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from temporalio.service import RPCError

from api.deps import approvals
from api.errors import answer_for
from domain.errors import OmError
from domain.models import Region
from domain.policy import Role, RosterUser
from domain.reasons import UnknownReasonCode
from domain.timefmt import local_label
from om.approvals import Approvals
from om.settings import Settings

PREFIX = "/console"
SESSION_COOKIE = "om_console"
FLASH_COOKIE = "om_console_flash"
CSRF_FIELD = "csrf"
DEMO_TOKEN_PREFIX = "demo-"
"""Roster users whose token starts with this are offered as one-click demo
sign-ins; anyone else must paste their token."""

_API_DIR = Path(__file__).parent.parent  # templates/ and static/ stay in api/ (package data)
STATIC = _API_DIR / "static"
OPPORTUNITY_ID = re.compile(r"^[A-Za-z0-9]{1,40}$")
_MAX_FORM_BYTES = 64 * 1024

ROLE_LABELS = {
    Role.ORDER_MANAGEMENT: "Order Management",
    Role.BILLING: "Billing",
    Role.AUDITOR: "Auditor (read-only)",
    Role.REP: "Sales rep",
    Role.MANAGER: "Manager (read-only)",
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
    templates = Jinja2Templates(directory=str(_API_DIR / "templates"))
    templates.env.filters.update(when=_when, day=_day, business_hours=_business_hours, money=_money)
    templates.env.globals.update(
        role_labels=ROLE_LABELS,
        stage_labels=STAGE_LABELS,
        stage_short=STAGE_SHORT,
        Role=Role,
        prefix=PREFIX,
    )
    return templates


templates = _templates()


def local_time(at: datetime | None, region: Region | str | None, request: Request) -> str:
    """`at` on the region team's wall clock, e.g. `Fri 27 Nov 07:00 AMER (UTC-08:00)`:
    region and offset, since zone abbreviations are shared (Pacific and Manila are both PST)."""
    if at is None or region is None:
        return ""
    return local_label(at, region, settings_of(request).calendar)


# ---- session and CSRF ----------------------------------------------------------------


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _key(app: FastAPI) -> bytes:
    """The app's CSRF key, made on first use: forms from before a restart
    are refused (reload the page), which is the safe direction."""
    key = getattr(app.state, "console_csrf_key", None)
    if key is None:
        key = app.state.console_csrf_key = secrets.token_bytes(32)
    return key


def _session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def signed_in(request: Request) -> RosterUser | None:
    """The roster user of the session cookie, if any."""
    token = _session_token(request)
    return settings_of(request).user_by_token(token) if token else None


def csrf_token(request: Request) -> str:
    """The CSRF token for the signed-in session: HMAC-SHA256 of its cookie
    token, so a page from another site cannot know it."""
    token = _session_token(request) or ""
    return hmac.new(_key(request.app), token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, form: dict[str, list[str]]) -> bool:
    given = (form.get(CSRF_FIELD) or [""])[0]
    return bool(given) and hmac.compare_digest(given, csrf_token(request))


async def read_form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a console form (every form here is one; no
    multipart parser is needed)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def cross_site(request: Request) -> bool:
    """A browser's POST from another site (its Origin names another host).

    Sign-in has no session yet to derive a CSRF token from, so this is its
    guard against a page elsewhere signing a visitor in as someone else.
    Requests without an Origin header (non-browser clients) pass.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    """A form field's first value, stripped."""
    return (form.get(name) or [default])[0].strip()


def to_login(request: Request) -> RedirectResponse:
    """Sign in first, then come back here."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)


def set_cookie(
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


# ---- rendering -------------------------------------------------------------------------


def page(
    request: Request,
    template: str,
    user: RosterUser | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A rendered page, showing (and clearing) the flash message on a GET."""
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
    """Post/redirect/get, carrying the outcome's sentence to the next page."""
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, FLASH_COOKIE, quote(message[:500]), max_age=60)
    return response


def csrf_refused(request: Request) -> Response:
    return page(
        request,
        "error.html",
        signed_in(request),
        status_code=403,
        error=InlineError(
            403,
            "the form did not carry this session's CSRF token (it may be from before "
            "a restart or from another site): reload the page and try again",
        ),
    )


async def signed_form(
    request: Request,
) -> tuple[RosterUser, dict[str, list[str]]] | Response:
    """The signed-in user and their CSRF-checked form, or the response
    that turns the request away (sign in first / 403)."""
    user = signed_in(request)
    if user is None:
        return to_login(request)
    form = await read_form(request)
    if not csrf_ok(request, form):
        return csrf_refused(request)
    return user, form


# ---- workflow access -------------------------------------------------------------------


async def ops_for(request: Request) -> Approvals:
    return await approvals(request)


def error_for(error: Exception) -> InlineError:
    """The API's status code and sentence for a failure, for inline display.

    Domain errors take their status from `api.errors`, as the JSON API
    does; Temporal not answering (an RPC error, or no connection) is a 503."""
    if isinstance(error, OmError | UnknownReasonCode):
        return InlineError(answer_for(error).status, str(error))
    if isinstance(error, RPCError):
        return InlineError(503, f"Temporal could not answer: {error}")
    return InlineError(503, f"could not reach Temporal: {error}")


HANDLED = (OmError, UnknownReasonCode, RPCError, RuntimeError)
"""Failures shown inline; RPCError/RuntimeError are Temporal being unreachable."""
