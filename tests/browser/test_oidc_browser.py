"""Console sign-in through a real OpenID provider, in headless Chromium.

The provider is `oidc-provider-mock` (tests/oidc_provider.py) on a free
port; the browser follows the whole redirect flow: the console's sign-in
page, the provider's authorization form (where the test names who signs
in), and back to the console's callback. Two console processes share one
`OM_CONSOLE_SECRET`: the test's own (uvicorn in a thread, with a worker,
`test_console_browser.LiveConsole`) and an `om api` started as a separate
process; the browser's cookie and the forms of one are good at the other.
Nothing reaches the internet: every request off 127.0.0.1/localhost is
aborted (the provider's pages link a stylesheet on a CDN).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from pydantic import SecretStr

from domain.models import Region
from domain.policy import Role
from loadtest.ports import free_port
from om.identity import GroupGrant, OidcSettings
from tests.browser.conftest import remember_artifact
from tests.browser.test_console_browser import OM_AMER, LiveConsole
from tests.devserver import dev_server
from tests.oidc_provider import Provider, oidc_provider

SECRET = "test-console-secret-shared-by-both-processes"
CLIENT_ID = "om-console"
GROUPS = {"om-emea": GroupGrant(role=Role.ORDER_MANAGEMENT, regions=[Region.EMEA])}


def _oidc(provider: Provider) -> OidcSettings:
    return OidcSettings(
        issuer=provider.issuer,
        client_id=CLIENT_ID,
        client_secret=SecretStr("console-client-secret"),
        groups=GROUPS,
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        running.set_user("alex", {"email": "om.amer@example.com", "name": "Alex at Corp"})
        running.set_user(
            "ann", {"email": "ann@corp.example", "name": "Ann Emea", "groups": ["om-emea"]}
        )
        running.set_user("stranger", {"email": "nobody@corp.example", "groups": ["staff"]})
        yield running


@pytest.fixture(scope="module")
def temporal(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[str]:  # type: ignore[no-untyped-def]
    # `browser` first: without Chromium the module skips before starting servers.
    with dev_server(tmp_path_factory.mktemp("oidc-temporal")) as address:
        yield address


@pytest.fixture(scope="module")
def live(temporal: str, provider: Provider) -> Iterator[LiveConsole]:
    """Console process one: uvicorn in this process, with the worker."""
    console = LiveConsole(temporal)
    console.settings = console.settings.model_copy(
        update={"demo": False, "oidc": _oidc(provider), "console_secret": SecretStr(SECRET)}
    )
    console.start()
    yield console
    console.stop()


def _start_om_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    om = Path(sys.executable).parent / "om"
    return subprocess.Popen(
        [str(om), "api", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"om api exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"om api at {url} never answered /health")


def _api_env(live: LiveConsole, provider: Provider, home: Path, **extra: str) -> dict[str, str]:
    return {
        "OM_HOME": str(home),
        "TEMPORAL_ADDRESS": live.address,
        "OM_TASK_QUEUE": live.settings.task_queue,
        "OM_COVER_BUSINESS_DAYS": "0",
        "OM_API_METRICS": "false",
        "OM_CONSOLE_SECRET": SECRET,
        "OM_OIDC__ISSUER": provider.issuer,
        "OM_OIDC__CLIENT_ID": CLIENT_ID,
        "OM_OIDC__CLIENT_SECRET": "console-client-secret",
        "OM_OIDC__GROUPS": json.dumps({k: v.model_dump(mode="json") for k, v in GROUPS.items()}),
        **extra,
    }


@pytest.fixture(scope="module")
def second(
    live: LiveConsole, provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Console process two: `om api` in a process of its own, same secret."""
    port = free_port()
    home = tmp_path_factory.mktemp("oidc-api-home")
    process = _start_om_api(_api_env(live, provider, home), port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def short_lived(
    live: LiveConsole, provider: Provider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An `om api` whose sessions end after 3 idle seconds."""
    port = free_port()
    home = tmp_path_factory.mktemp("oidc-short-home")
    env = _api_env(live, provider, home, OM_CONSOLE_IDLE="3s", OM_CONSOLE_SECRET="another")
    process = _start_om_api(env, port)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture
def context(browser):  # type: ignore[no-untyped-def]
    """A fresh browser profile per test that can reach only this machine."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    ctx.route(
        re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"), lambda route: route.abort()
    )
    yield ctx
    ctx.close()


def company_sign_in(page, console_url: str, who: str, path: str = "/console/queue") -> None:  # type: ignore[no-untyped-def]
    """Open a console page, go to the provider, sign in there as `who`."""
    from playwright.sync_api import expect

    page.goto(console_url + path)
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_test_id("oidc-sign-in").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.locator("input[name=sub]").fill(who)
    page.get_by_role("button", name="Authorize", exact=True).click()


def _session_cookies(context) -> list[dict]:  # type: ignore[no-untyped-def]
    return [c for c in context.cookies() if c["name"] == "om_console"]


def test_sign_in_by_email_runs_code_flow_with_pkce_state_and_nonce(live, provider, context):
    from playwright.sync_api import expect

    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/oauth2/authorize" in r.url else None)
    company_sign_in(page, live.url, "alex")
    expect(page).to_have_url(re.compile(r"/console/queue$"))
    # On the roster by email: the roster's name, role and region.
    expect(page.get_by_test_id("who")).to_have_text(OM_AMER)
    query = parse_qs(urlsplit(asked[0]).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [f"{live.url}/console/oidc/callback"]
    assert set(query["scope"][0].split()) >= {"openid", "email"}
    cookie = _session_cookies(context)[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"


def test_sign_in_by_group_gets_the_groups_role_and_region(live, provider, context, artifacts):
    from playwright.sync_api import expect

    page = context.new_page()
    company_sign_in(page, live.url, "ann")
    expect(page.get_by_test_id("who")).to_have_text("Ann Emea")
    expect(page.locator(".who-role")).to_have_text("Order Management · EMEA")
    shot = artifacts / "oidc-signed-in-by-group.png"
    page.screenshot(path=str(shot))
    remember_artifact(shot)


def test_an_unknown_person_is_refused_and_nothing_is_kept(live, provider, context, artifacts):
    from playwright.sync_api import expect

    page = context.new_page()
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if "/oidc/callback" in r.url else None)
    company_sign_in(page, live.url, "stranger")
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_test_id("error")).to_contain_text("the console does not know you")
    assert answers == [403]
    assert _session_cookies(context) == []
    shot = artifacts / "oidc-refused.png"
    page.screenshot(path=str(shot))
    remember_artifact(shot)
    page.goto(live.url + "/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_a_forged_state_is_refused(live, provider, context):
    from playwright.sync_api import expect

    def forge(route) -> None:  # type: ignore[no-untyped-def]
        """The provider's answer, with another `state` in its redirect to the console."""
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        parts = urlsplit(answer.headers["location"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = "forged-" + query["state"]
        forged = urlunsplit(parts._replace(query=urlencode(query)))
        route.fulfill(status=302, headers={"Location": forged})

    context.route(re.compile(r"/oauth2/authorize\?"), forge)
    page = context.new_page()
    company_sign_in(page, live.url, "alex")
    expect(page.get_by_role("heading", name="Sign-in refused")).to_be_visible()
    expect(page.get_by_test_id("error")).to_contain_text("state does not match")
    page.goto(live.url + "/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_an_idle_session_is_sent_back_to_sign_in(short_lived, provider, context):
    from playwright.sync_api import expect

    page = context.new_page()
    company_sign_in(page, short_lived, "alex")
    expect(page.get_by_test_id("who")).to_have_text(OM_AMER)
    time.sleep(4)
    page.goto(short_lived + "/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fqueue&expired=1"))
    expect(page.get_by_test_id("expired")).to_be_visible()
    expect(page.get_by_test_id("who")).to_have_count(0)


def test_a_form_rendered_by_one_process_is_accepted_by_the_other(live, second, context):
    from playwright.sync_api import expect

    opportunity_id = live.submit()
    page = context.new_page()
    company_sign_in(page, live.url, "alex", path=f"/console/opportunities/{opportunity_id}")
    expect(page.get_by_test_id("approve-form")).to_be_visible()
    # The form (and its CSRF token) came from this process; it posts to `om api`.
    page.get_by_test_id("approve-form").evaluate(
        "(form, base) => form.setAttribute('action', base + form.getAttribute('action'))", second
    )
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(second)))
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(page.get_by_test_id("who")).to_have_text(OM_AMER)
    live.wait(opportunity_id, lambda s: s.stage == "finance_review")
    assert live.status(opportunity_id).om_approver == "om.amer@example.com"


def test_sign_out_ends_the_session_and_offers_the_providers_end_session(live, provider, context):
    from playwright.sync_api import expect

    page = context.new_page()
    company_sign_in(page, live.url, "alex")
    expect(page.get_by_test_id("who")).to_have_text(OM_AMER)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_test_id("signed-out")).to_be_visible()
    link = page.get_by_test_id("end-session").get_attribute("href") or ""
    assert link.startswith(f"{provider.issuer}/oauth2/end_session?")
    assert parse_qs(urlsplit(link).query)["post_logout_redirect_uri"] == [
        f"{live.url}/console/login"
    ]
    page.goto(live.url + "/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login"))
