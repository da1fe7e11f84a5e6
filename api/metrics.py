"""Prometheus metrics of the HTTP API (`GET /metrics`).

Request counts and latencies are labelled with the route template
(`/opportunities/{opportunity_id}`), never the raw path, so the number of
series stays bounded whatever callers send. Each app has its own registry:
tests build many apps in one process, and the Temporal SDK's metrics are
served by the worker's runtime, not here.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from domain.errors import NotSubmitted, Refused, UnknownUser
from domain.messages import DecisionReceipt
from domain.models import DecisionAction, DecisionStage
from domain.policy import RosterUser
from om.approvals import Approvals
from om.queue_snapshot import QueueSnapshot
from om.settings import Settings

UNMATCHED = "<unmatched>"
_STAGES = ("om", "finance")
_ACTIONS = ("approve", "reject")


class ApiMetrics:
    """The API's collectors, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "om_decisions",
            "OM and Billing decisions sent to approval workflows, by outcome "
            "(accepted, or why it was refused)",
            ["stage", "action", "outcome"],
            registry=self.registry,
        )

    def approvals(
        self, client: Client, settings: Settings, snapshot: QueueSnapshot | None = None
    ) -> Approvals:
        """Client-side operations whose decisions are counted here."""
        return CountedApprovals(client, settings, self, snapshot)

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class CountedApprovals(Approvals):
    """Approvals that count each decision's outcome: the one place both the
    JSON API and the console send decisions through."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        metrics: ApiMetrics,
        snapshot: QueueSnapshot | None = None,
    ) -> None:
        super().__init__(client, settings, snapshot=snapshot)
        self.metrics = metrics

    async def decide(
        self,
        opportunity_id: str,
        who: str | RosterUser,
        stage: DecisionStage,
        action: DecisionAction,
        *args: Any,
        **kwargs: Any,
    ) -> DecisionReceipt:
        # The rest of the arguments pass through untouched: counting must not
        # have to follow every option Approvals.decide grows.
        outcome = "error"
        try:
            receipt = await super().decide(opportunity_id, who, stage, action, *args, **kwargs)
            outcome = "accepted" if receipt.accepted else "not_accepted"
            return receipt
        except Refused as refused:
            outcome = refused.kind  # forbidden, conflict or invalid
            raise
        except NotSubmitted:
            outcome = "not_submitted"
            raise
        except UnknownUser:
            outcome = "unknown_user"
            raise
        finally:
            self.metrics.decisions.labels(
                stage if stage in _STAGES else "other",
                action if action in _ACTIONS else "other",
                outcome,
            ).inc()


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request under its route template.

    The router writes the matched route into the request scope, so it is
    read after the app ran; a path no route matched is counted as
    `<unmatched>`. An exception escaping the app counts as status 500."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(perf_counter() - started)


def install_metrics(app: FastAPI) -> ApiMetrics:
    """Count the app's requests and decisions and serve them at GET /metrics
    (Prometheus text format, unauthenticated like a health check)."""
    metrics = ApiMetrics()
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_api_route("/metrics", metrics.exposition, methods=["GET"], include_in_schema=False)
    return metrics
