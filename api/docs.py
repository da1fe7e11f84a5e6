"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc`, served offline.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so where the
API runs without internet (a closed network, a laptop on a plane) they are
blank. The `fastapi-offline` package ships both bundles and a favicon as
plain files; this module mounts that folder under `ASSETS_URL` and builds
the pages with FastAPI's own helpers pointed at it, so every asset comes
from the API itself. `create_app` turns the default pages off and calls
`install_docs`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# The package's data folder: swagger-ui-bundle.js, swagger-ui.css,
# redoc.standalone.js, favicon.png. A real directory in an installed wheel.
ASSETS_DIR = str(files("fastapi_offline") / "static")


def _prefix(request: Request) -> str:
    """The path the app is served under (non-empty behind a proxy's `root_path`),
    so the page's links work wherever the API is mounted."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = _prefix(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = _prefix(request)
    return get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        # The default page also loads fonts from Google; the bundle's own do.
        with_google_fonts=False,
    )


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from local assets. The app must be built with
    `docs_url=None, redoc_url=None`, or FastAPI's CDN pages answer first."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("install_docs needs FastAPI(docs_url=None, redoc_url=None)")
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
