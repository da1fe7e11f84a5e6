"""What every console page shares: rendering, the session cookie, CSRF,
flash messages, inline errors and the Jinja filters.

The page modules (`session`, `queue`, `opportunities`) hold routes and what
only their pages need; anything two of them use lives here, so a page reads
top to bottom without reaching into a sibling. Templates are loaded once per
process, and nothing here keeps per-app state but the console secret on
`app.state`: sessions live in the signed cookie, so any replica serves any
request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
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
"""The signed session cookie (Starlette's SessionMiddleware, installed by
`install_sessions`)."""
FLASH_COOKIE = "om_console_flash"
CSRF_FIELD = "csrf"
DEMO_TOKEN_PREFIX = "demo-"
"""In demo mode (`demo`, set by `om dev`), roster users whose token starts
with this are offered as one-click sign-ins; never otherwise."""

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


def console_secret(app: FastAPI) -> bytes:
    """The key that signs console sessions and derives CSRF tokens:
    `console_secret` from settings, so every replica and every restart
    accepts the same cookies and forms. Without one (only `create_app` in
    tests and demos get this far: `om api` refuses to start) a random key
    per app: sessions and open forms then end with the process."""
    key = getattr(app.state, "console_secret_key", None)
    if key is None:
        configured = app.state.settings.console_secret
        key = (
            configured.get_secret_value().encode()
            if configured is not None
            else secrets.token_bytes(32)
        )
        app.state.console_secret_key = key
    return key


class _ConsoleSessions:
    """Starlette's signed-cookie sessions, scoped to the console, with the
    Secure flag whenever the request came over https (Starlette fixes the
    flag per middleware, so there is one for each scheme)."""

    def __init__(self, app: ASGIApp, secret: bytes, max_age: int) -> None:
        options: dict[str, Any] = {
            "secret_key": secret.decode("latin-1"),
            "session_cookie": SESSION_COOKIE,
            "max_age": max_age,
            "path": PREFIX,
            "same_site": "lax",
        }
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await chosen(scope, receive, send)


def install_sessions(app: FastAPI) -> None:
    """Console sessions in a cookie signed with the console secret. The
    limits are checked on the session's own times (`signed_in`); the cookie
    outlives them by an hour so an ended session is still seen, and the
    person told it expired, rather than silently gone."""
    max_age = int(app.state.settings.console_max_age.total_seconds()) + 3600
    app.add_middleware(_ConsoleSessions, secret=console_secret(app), max_age=max_age)


def _now() -> float:
    return time.time()


def start_session(request: Request, user: RosterUser, via: str, **extra: Any) -> None:
    """Sign `user` in: a fresh session (new id, so a CSRF token from before
    is void) in the signed cookie. Roster people are stored by email and
    looked up again on every request; people mapped by group carry their
    role and regions until the session ends."""
    request.session.clear()
    now = round(_now(), 3)
    on_roster = settings_of(request).user(user.email) is not None
    request.session.update(
        sid=secrets.token_urlsafe(18),
        email=user.email,
        via=via,
        at=now,
        seen=now,
        roster=on_roster,
        **({} if on_roster else {"person": user.model_dump(mode="json", exclude={"token"})}),
        **extra,
    )


def end_session(request: Request) -> None:
    request.session.clear()


def session_expired(request: Request) -> bool:
    """Whether this request came with a session that ran out (idle or absolute)."""
    return bool(getattr(request.state, "console_session_expired", False))


def signed_in(request: Request) -> RosterUser | None:
    """The person of the session cookie, if any and still live.

    A session is over `console_idle` after its last request and
    `console_max_age` after sign-in; a roster person taken off the roster,
    or a service account whose token was withdrawn, is signed out at once."""
    session = request.session
    email = session.get("email")
    if not email:
        return None
    settings = settings_of(request)
    now = _now()
    idle = settings.console_idle.total_seconds()
    if (
        now - float(session.get("at", 0)) > settings.console_max_age.total_seconds()
        or now - float(session.get("seen", 0)) > idle
    ):
        session.clear()
        request.state.console_session_expired = True
        return None
    user: RosterUser | None
    if session.get("roster"):
        user = settings.user(email)
        if user is not None and session.get("via") in ("token", "demo") and not user.token:
            user = None
    else:
        try:
            user = RosterUser.model_validate(session.get("person"))
        except ValueError:
            user = None
    if user is None:
        session.clear()
        return None
    if now - float(session.get("seen", 0)) > min(60.0, idle / 4):
        session["seen"] = round(now, 3)  # re-signed into the cookie with this response
    return user


def csrf_token(request: Request) -> str:
    """The CSRF token for the signed-in session: HMAC-SHA256, under the
    console secret, of the session's id. Any replica that shares the secret
    derives the same token, and a page from another site cannot know it."""
    sid = str(request.session.get("sid", ""))
    message = b"om-console-csrf\0" + sid.encode()
    return hmac.new(console_secret(request.app), message, hashlib.sha256).hexdigest()


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


def safe_next(target: str | None) -> str:
    """Only ever redirect into the console after sign-in (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/queue"


def to_login(request: Request) -> RedirectResponse:
    """Sign in first, then come back here (saying so when the session ran out)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expired = "&expired=1" if session_expired(request) else ""
    return RedirectResponse(
        f"{PREFIX}/login?next={quote(target, safe='')}{expired}", status_code=303
    )


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
