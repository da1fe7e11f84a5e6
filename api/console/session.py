"""Console entry: sign in and out, the stylesheet, and `/console` itself.

People sign in through the company's identity provider (`api.console.oidc`);
service accounts may paste their roster token; in demo mode (`demo`, which
`om dev` sets) each demo roster user signs in with one click. Every way ends
in the same signed session cookie (`shared.start_session`). Sign-in has no
session yet to derive a CSRF token from, so it refuses posts from another
site by their Origin instead; sign-out, like every other form, carries the
CSRF token, and offers the provider's end-session URL when it has one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from api.console.oidc import end_session_url
from api.console.shared import (
    DEMO_TOKEN_PREFIX,
    PREFIX,
    STATIC,
    InlineError,
    cross_site,
    csrf_ok,
    csrf_refused,
    end_session,
    first,
    page,
    read_form,
    safe_next,
    settings_of,
    signed_in,
    start_session,
)
from domain.policy import RosterUser

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _is_demo(request: Request, user: RosterUser) -> bool:
    """A one-click user: only in demo mode, and only a demo roster token."""
    return settings_of(request).demo and bool(
        user.token and user.token.startswith(DEMO_TOKEN_PREFIX)
    )


# ---- static and entry ----------------------------------------------------


@router.get("/static/console.css")
async def stylesheet() -> FileResponse:
    return FileResponse(
        STATIC / "console.css",
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/queue", status_code=303)


# ---- sign in / out --------------------------------------------------------


def login_page(
    request: Request, next_target: str, error: InlineError | None = None, expired: bool = False
) -> Response:
    demo = [u for u in settings_of(request).roster if _is_demo(request, u)]
    return page(
        request,
        "login.html",
        signed_in(request),
        status_code=error.status if error else 200,
        demo_users=demo,
        oidc=settings_of(request).oidc.enabled,
        next=safe_next(next_target),
        error=error,
        expired=expired,
    )


@router.get("/login")
async def login_form(request: Request, next: str = "", expired: str = "") -> Response:
    return login_page(request, next, expired=bool(expired))


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in by demo user (one click, demo mode only) or by pasting a roster token."""
    form = await read_form(request)
    target = safe_next(first(form, "next"))
    if cross_site(request):
        return login_page(
            request, target, InlineError(403, "sign-in must come from this console's page")
        )
    settings = settings_of(request)
    email = first(form, "email")
    token = first(form, "token")
    user: RosterUser | None = None
    if email:
        found = settings.user(email)
        user = found if found is not None and _is_demo(request, found) else None
        if user is None:
            return login_page(
                request,
                target,
                InlineError(401, f"{email} is not a one-click demo user: sign in another way"),
            )
    elif token:
        user = settings.user_by_token(token)
        if user is None:
            return login_page(request, target, InlineError(401, "unknown token"))
    else:
        return login_page(request, target, InlineError(422, "pick a demo user or paste your token"))
    start_session(request, user, via="demo" if email else "token")
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    if signed_in(request) is not None and not csrf_ok(request, form):
        return csrf_refused(request)
    via_provider = request.session.get("via") == "oidc"
    end_session(request)
    if not via_provider:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    return page(request, "signed_out.html", None, end_session_url=await end_session_url(request))
