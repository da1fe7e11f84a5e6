"""Console sessions: a cookie signed with the console secret, ended by an
idle limit and an absolute one, whichever comes first. Pages that need no
Temporal (sign-in) are enough to see who the console thinks is signed in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from pydantic import SecretStr

from api.app import create_app
from om.settings import Settings


@asynccontextmanager
async def console(**settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(**settings))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client


async def _who(client: httpx.AsyncClient, cookie: str | None = None) -> str | None:
    """Who the sign-in page says is signed in (with `cookie` as the session, if given)."""
    headers = {"Cookie": f"om_console={cookie}"} if cookie else {}
    page = (await client.get("/console/login", headers=headers)).text
    marker = 'data-testid="who">'
    return page.split(marker, 1)[1].split("<", 1)[0] if marker in page else None


async def test_a_busy_session_still_ends_at_its_absolute_limit():
    async with console(
        console_secret=SecretStr("s"),
        console_idle=timedelta(hours=1),
        console_max_age=timedelta(seconds=2),
    ) as client:
        signed = await client.post("/console/login", data={"token": "demo-om-amer"})
        assert signed.status_code == 303
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            assert await _who(client) == "Alex OM (AMER)"
            time.sleep(0.25)
        time.sleep(max(0.0, 2.6 - (time.monotonic() - started)))
        back = await client.get("/console/queue")
        assert back.status_code == 303
        assert back.headers["location"] == "/console/login?next=%2Fconsole%2Fqueue&expired=1"
        assert await _who(client) is None


async def test_a_session_is_good_on_every_app_with_the_same_secret_and_no_other():
    async with console(console_secret=SecretStr("shared")) as first:
        assert (await first.post("/console/login", data={"token": "demo-billing"})).is_redirect
        cookie = first.cookies["om_console"]
    async with console(console_secret=SecretStr("shared")) as replica:
        assert await _who(replica, cookie) == "Bea Billing"
    async with console(console_secret=SecretStr("another")) as stranger:
        assert await _who(stranger, cookie) is None
    async with console(console_secret=SecretStr("shared")) as tampered:
        forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
        assert await _who(tampered, forged) is None


async def test_a_service_account_whose_token_was_withdrawn_is_signed_out():
    async with console(console_secret=SecretStr("s")) as client:
        assert (await client.post("/console/login", data={"token": "demo-auditor"})).is_redirect
        assert await _who(client) == "Ari Auditor"
        app_settings = client._transport.app.state.settings  # type: ignore[attr-defined]
        auditor = app_settings.user("auditor@example.com")
        auditor.token = None
        assert await _who(client) is None
