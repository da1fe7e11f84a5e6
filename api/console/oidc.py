"""Console sign-in through the company's identity provider (OpenID Connect).

Authlib's Starlette client runs the authorization code flow with PKCE
(S256), `state` and `nonce` against the provider its issuer URL names
(discovery): `/console/oidc/start` sends the browser to the provider, and
`/console/oidc/callback` takes the answer, redeems the code with the client
secret, and checks the ID token (signature by the provider's keys, issuer,
audience, expiry, nonce). The state, nonce and code verifier wait in the
signed session cookie between the two, so any replica can take the answer.

The claims map to a roster entry or a mapped group (`om.identity`); a
person who maps to nobody gets a page saying so, and the session is emptied:
nothing about them is kept.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.console.shared import (
    PREFIX,
    InlineError,
    end_session,
    page,
    safe_next,
    settings_of,
    start_session,
)
from om.identity import person_for_claims

router = APIRouter(prefix=PREFIX, include_in_schema=False)

CALLBACK = f"{PREFIX}/oidc/callback"


def provider(request: Request) -> StarletteOAuth2App | None:
    """The app's OIDC client, registered on first use; None while OIDC is off."""
    oidc = settings_of(request).oidc
    if not oidc.enabled:
        return None
    client: StarletteOAuth2App | None = getattr(request.app.state, "oidc_client", None)
    if client is None:
        oauth = OAuth()
        client = oauth.register(
            "idp",
            client_id=oidc.client_id,
            client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
            server_metadata_url=oidc.discovery_url,
            client_kwargs={"scope": " ".join(oidc.scopes), "code_challenge_method": "S256"},
        )
        request.app.state.oidc_client = client
    return client


def _callback_url(request: Request) -> str:
    configured = settings_of(request).oidc.redirect_uri
    return configured or str(request.base_url).rstrip("/") + CALLBACK


def _refused(request: Request, status: int, message: str) -> Response:
    end_session(request)
    return page(
        request,
        "signin_refused.html",
        None,
        status_code=status,
        error=InlineError(status, message),
    )


@router.get("/oidc/start")
async def start(request: Request, next: str = "") -> Response:
    """Off to the identity provider; back at the callback."""
    client = provider(request)
    if client is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    end_session(request)
    request.session["next"] = safe_next(next)
    try:
        answer: Response = await client.authorize_redirect(request, _callback_url(request))
    except (OAuthError, OSError, ValueError) as error:
        return _refused(request, 503, f"the identity provider could not be reached: {error}")
    return answer


@router.get("/oidc/callback")
async def callback(request: Request) -> Response:
    """The provider's answer: a code to redeem, or an error to show."""
    client = provider(request)
    if client is None:
        return RedirectResponse(f"{PREFIX}/login", status_code=303)
    target = safe_next(request.session.get("next"))
    try:
        token: dict[str, Any] = await client.authorize_access_token(request)
    except MismatchingStateError:
        return _refused(
            request,
            400,
            "sign-in refused: the answer's state does not match a sign-in started in "
            "this browser (an old tab, or a forged link); start again",
        )
    except OAuthError as error:
        return _refused(request, 401, f"the identity provider refused sign-in: {error}")
    except (OSError, ValueError) as error:
        return _refused(request, 401, f"sign-in could not be completed: {error}")
    oidc = settings_of(request).oidc
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    if oidc.groups_claim not in claims or oidc.email_claim not in claims:
        # Some providers keep groups (or email) out of the ID token.
        with contextlib.suppress(OAuthError, OSError, ValueError, KeyError):
            claims = {**dict(await client.userinfo(token=token)), **claims}
    user = person_for_claims(settings_of(request), oidc, claims)
    if user is None:
        return _refused(
            request,
            403,
            "you signed in at the identity provider, but the console does not know you: "
            "you are neither on the roster by email nor in a group it maps to a role. "
            "Ask an administrator to add you",
        )
    start_session(request, user, via="oidc")
    return RedirectResponse(target, status_code=303)


async def end_session_url(request: Request) -> str | None:
    """The provider's end-session (RP-initiated logout) URL, back to the
    sign-in page afterwards; None when it has none or OIDC is off."""
    client = provider(request)
    if client is None:
        return None
    try:
        metadata = await client.load_server_metadata()
    except (OAuthError, OSError, ValueError):
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    back = str(request.base_url).rstrip("/") + f"{PREFIX}/login"
    query = urlencode({"client_id": client.client_id, "post_logout_redirect_uri": back})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
