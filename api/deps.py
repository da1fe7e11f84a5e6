"""Request dependencies shared by the API's routers: who is calling, and
the client-side operations on approval workflows."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import State
from temporalio.client import Client

from api.oidc import oidc_user
from domain.policy import RosterUser
from om.approvals import Approvals
from om.client import connect
from om.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> RosterUser:
    """The roster user whose bearer token came with the request: a roster
    (service account) token, else an OIDC access token (`api.oidc`)."""
    if credentials is None:
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    found = _settings(request).user_by_token(credentials.credentials) or oidc_user(
        request, credentials.credentials
    )
    if found is None:
        raise HTTPException(401, "unknown bearer token", {"WWW-Authenticate": "Bearer"})
    return found


async def temporal_client(state: State) -> Client:
    """The app's Temporal client, connected on first use."""
    if state.client is None:
        state.client = await connect(state.settings)
    client: Client = state.client
    return client


async def approvals(request: Request) -> Approvals:
    """Client-side operations, connecting to Temporal on first use."""
    state = request.app.state
    await temporal_client(state)
    snapshot = state.queue_snapshot
    metrics = getattr(state, "metrics", None)  # set when the API counts decisions
    if metrics is not None:
        counted: Approvals = metrics.approvals(state.client, state.settings, snapshot)
        return counted
    return Approvals(state.client, state.settings, snapshot=snapshot)


User = Annotated[RosterUser, Depends(current_user)]
Ops = Annotated[Approvals, Depends(approvals)]
