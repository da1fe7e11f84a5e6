"""Console entry: sign in and out, the stylesheet, and `/console` itself.

Sign-in stores the user's roster token in an HttpOnly, SameSite=Lax cookie
scoped to `/console`. It has no session yet to derive a CSRF token from, so
it refuses posts from another site by their Origin instead; sign-out, like
every other form, carries the CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from api.console.shared import (
    DEMO_TOKEN_PREFIX,
    PREFIX,
    SESSION_COOKIE,
    STATIC,
    InlineError,
    cross_site,
    csrf_ok,
    csrf_refused,
    first,
    page,
    read_form,
    set_cookie,
    settings_of,
    signed_in,
)
from domain.policy import RosterUser

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only ever redirect into the console after sign-in (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return f"{PREFIX}/queue"


def _is_demo(user: RosterUser) -> bool:
    return bool(user.token and user.token.startswith(DEMO_TOKEN_PREFIX))


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


def login_page(request: Request, next_target: str, error: InlineError | None = None) -> Response:
    demo = [u for u in settings_of(request).roster if _is_demo(u)]
    return page(
        request,
        "login.html",
        signed_in(request),
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
    form = await read_form(request)
    target = _safe_next(first(form, "next"))
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
        return login_page(request, target, InlineError(422, "pick a demo user or paste your token"))
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, user.token or "")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    if signed_in(request) is not None and not csrf_ok(request, form):
        return csrf_refused(request)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
