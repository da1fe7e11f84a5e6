"""The license service stand-in: has the license of an opportunity been delivered?

    GET /licenses/{opportunity_id}
        -> {"opportunity_id", "delivered": bool, "delivered_at": iso-or-null, "delivered_by"}
        404 {"detail": ...} for an opportunity the sandbox does not hold.

Delivery rule (part of the seed file's contract, see sandbox.seed): an id
listed in the seed's `delivered_licenses` is delivered "by automation" at the
moment its Opportunity's StageName becomes "Closed Won" (see `Store.update`);
any other only after `POST /__sandbox/licenses/{id}/deliver` (`om sandbox
deliver-license ID`). Auth: `Authorization: Bearer <license_service_token>`.
The sandbox's admin API (see sandbox.admin) and the team-chat webhook (see
sandbox.chat) are served by this same server.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.admin import admin_router
from sandbox.chat import chat_router
from sandbox.faults import injected
from sandbox.state import SandboxState, bearer


def create_license_app(state: SandboxState) -> FastAPI:
    """The ASGI app for the license service, with the chat webhook and the
    admin API mounted."""
    app = FastAPI(title="License service sandbox", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/licenses/{opportunity_id}")
    async def license_status(opportunity_id: str, request: Request) -> JSONResponse:
        if bearer(request.headers.get("authorization")) != state.license_service_token:
            return JSONResponse({"detail": "Invalid or missing bearer token"}, status_code=401)
        fault = await injected(state.faults, "license", request)
        if fault is not None:
            return JSONResponse({"detail": "Sandbox fault injection"}, status_code=fault.status)
        status = await asyncio.to_thread(state.store.license, opportunity_id)
        if status is None:
            return JSONResponse(
                {"detail": f"No opportunity {opportunity_id} is known to the license service"},
                status_code=404,
            )
        return JSONResponse(
            {k: status[k] for k in ("opportunity_id", "delivered", "delivered_at", "delivered_by")}
        )

    app.include_router(chat_router(state))
    app.include_router(admin_router(state))
    return app
