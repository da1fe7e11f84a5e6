"""The API docs pages render in headless Chromium with the internet cut off.

Every request to a host other than the API's is aborted, as on a closed
network: a page that needs a CDN stays blank and the operations never show.
The pages need no Temporal server (the app connects lazily and its queue
listing is off), so the app runs alone under uvicorn on a free port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from om.settings import Settings
from tests.browser.conftest import remember_artifact
from tests.devserver import free_port

# ReDoc's "API docs by Redocly" footer shows the vendor's logo from its CDN;
# ReDoc has no option to drop it. Blocked, it is a missing 16-pixel image,
# the page works, and it is the one outside request a page may make.
REDOC_BRANDING = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    import uvicorn

    from api.app import create_app

    # Nothing listens at this address; the docs pages never connect to it.
    settings = Settings(
        temporal_address=f"127.0.0.1:{free_port()}", queue_cache_seconds=0, api_metrics=False
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="docs-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.mark.parametrize(
    ("page", "operation"),
    [
        # Swagger UI lists each operation as its path.
        ("/docs", "/opportunities/{opportunity_id}"),
        # ReDoc lists operations by summary in its side menu.
        ("/redoc", "Queue"),
    ],
)
def test_a_docs_page_shows_the_operations_with_no_internet(
    browser, artifacts, api_url: str, page: str, operation: str
):
    context = browser.new_context()
    blocked: list[str] = []

    def local_only(route, request) -> None:  # type: ignore[no-untyped-def]
        if urlsplit(request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort("internetdisconnected")

    context.route("**/*", local_only)
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.goto(api_url + page)
        shot = artifacts / f"docs-offline{page.replace('/', '-')}.png"
        try:
            tab.get_by_text(operation, exact=True).first.wait_for(state="visible", timeout=15_000)
        finally:
            tab.screenshot(path=str(shot), full_page=False)
            remember_artifact(shot)
        assert errors == [], errors
        outside = [url for url in blocked if url != REDOC_BRANDING]
        assert outside == [], f"{page} asked the internet for {outside}"
    finally:
        context.close()
