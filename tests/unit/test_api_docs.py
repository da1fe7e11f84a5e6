"""The docs pages name only the API's own assets, and the API serves them.

The browser test (tests/browser/test_docs_browser.py) shows the pages render
with the network cut off; these check the HTML quickly, without a browser.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from om.settings import Settings


class _Links(HTMLParser):
    """Every `src`, `href` and ReDoc `spec-url` on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [
            value for name, value in attrs if name in ("src", "href", "spec-url") and value
        ]


def _urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(api_metrics=False, queue_cache_seconds=0)))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_only_local_assets_and_each_is_served(client: TestClient, page: str):
    response = client.get(page)
    assert response.status_code == 200
    assert "https://" not in response.text and "http://" not in response.text
    urls = _urls(response.text)
    assert urls, f"{page} names no assets"
    assert any(url.startswith("/docs-assets/") for url in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this API"
        assert client.get(url).status_code == 200, url


def test_the_docs_pages_follow_the_root_path_behind_a_proxy():
    app = create_app(Settings(api_metrics=False, queue_cache_seconds=0))
    page = TestClient(app, root_path="/om").get("/docs").text
    assert set(_urls(page)) == {
        "/om/docs-assets/swagger-ui.css",
        "/om/docs-assets/favicon.png",
        "/om/docs-assets/swagger-ui-bundle.js",
    }
    assert "'/om/openapi.json'" in page


def test_the_docs_pages_are_not_in_the_openapi_schema(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/docs" not in paths and "/redoc" not in paths
