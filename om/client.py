"""One way to reach Temporal, shared by the worker, the CLI and the API."""

from __future__ import annotations

from functools import cache

from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from om.codec import data_converter_for
from om.connection import connect_kwargs, connection_settings
from om.settings import Settings, load_settings
from om.telemetry import interceptors_for, runtime_for


async def connect(settings: Settings | None = None, *, serve_metrics: bool = True) -> Client:
    """Connect to the Temporal frontend named in settings, with the pydantic
    data converter every workflow payload in this project needs (encrypting
    when `payload_encryption` is on) and TLS / mTLS / API key when
    `temporal_connection` asks for them. The worker uses the client's
    converter, so worker, CLI and API always agree on the encryption.

    Its interceptors (OpenTelemetry tracing when `otel_tracing` is on) apply
    to workers built from it too. With `serve_metrics` the client runs on the
    runtime serving SDK metrics at `metrics_bind`; one-shot CLI commands pass
    False, so `om status` beside a worker does not fight it for the port, and
    get `one_shot_runtime()`."""
    settings = settings or load_settings()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter_for(settings),
        interceptors=interceptors_for(settings),
        runtime=runtime_for(settings) if serve_metrics else one_shot_runtime(),
        **connect_kwargs(connection_settings(settings)),
    )


@cache
def one_shot_runtime() -> Runtime:
    """A runtime without the SDK core's own log lines, for one-shot commands.

    While Temporal is down the core retries each call for several seconds,
    printing a warning with the transport error at every retry; a command
    ends with its own one-line error instead (cli.errors)."""
    return Runtime(telemetry=TelemetryConfig(logging=None))


def workflow_id_for(opportunity_id: str) -> str:
    """The one workflow id of an opportunity: every round of the deal in one
    history, and intake idempotent (docs/architecture.md, "One workflow per
    opportunity")."""
    return f"opportunity-{opportunity_id}"
