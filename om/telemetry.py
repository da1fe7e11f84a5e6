"""Observability of the worker and API processes: Temporal SDK metrics for
Prometheus, JSON log lines, optional OpenTelemetry tracing.

All three are off or plain by default so `make run` needs nothing; a
deployment turns them on with settings (`OM_METRICS_BIND`, `OM_LOG_FORMAT`,
`OM_OTEL_TRACING`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, TextIO

from temporalio import activity, workflow
from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from domain.errors import OmError
from om.settings import Settings

OTEL_INSTALL_HINT = "pip install -e '.[otel]'"


class TelemetryUnavailable(OmError):
    """A telemetry setting is on but what it needs is missing or unusable;
    the message names the setting and the fix."""


# ---- metrics ---------------------------------------------------------------------


def runtime_for(settings: Settings) -> Runtime | None:
    """The Temporal runtime serving SDK metrics at `settings.metrics_bind`,
    or None (the SDK's default runtime) when it is unset.

    One runtime per bind address and process: a second runtime on the same
    port would fail with "address already in use", and every client of the
    process (worker and API in `om dev`) should report into one endpoint."""
    if not settings.metrics_bind:
        return None
    return _prometheus_runtime(settings.metrics_bind)


@cache
def _prometheus_runtime(bind_address: str) -> Runtime:
    try:
        return Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address))
        )
    except ValueError as error:  # the Rust core reports bind failures as ValueError
        raise TelemetryUnavailable(
            f"metrics_bind {bind_address}: cannot serve Prometheus metrics there ({error}); "
            "pick another port or unset OM_METRICS_BIND"
        ) from error


# ---- logs ------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra`
# (except uvicorn's `color_message`, the message again with terminal colours).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
# Temporal's loggers attach their context as these dicts (workflow.logger,
# activity.logger with `*_info_on_extra`, on by default).
_TEMPORAL_CONTEXTS = ("temporal_workflow", "temporal_activity")
_RENAMED = {"workflow_run_id": "run_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC ISO 8601), level, logger, message,
    the Temporal workflow / activity context flattened to top-level keys
    (workflow_id, run_id, workflow_type, activity_type, attempt, ...), any
    other `extra`, and the formatted exception. Values JSON cannot hold are
    written as `str(value)`: a log call must never fail on its extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _TEMPORAL_CONTEXTS:
            context = getattr(record, key, None)
            if isinstance(context, Mapping):
                for name, value in context.items():
                    entry.setdefault(_RENAMED.get(str(name), str(name)), value)
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in _TEMPORAL_CONTEXTS:
                entry.setdefault(name, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, default=str)
        except (TypeError, ValueError):  # non-string dict keys, circular references
            return json.dumps({key: _json_safe(value) for key, value in entry.items()}, default=str)


def _json_safe(value: Any) -> Any:
    """`value` if JSON can hold it (with `default=str`), else its `str`."""
    try:
        json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
    return value


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Send the process's logs to `stream` (stderr) at `settings.log_level`,
    as text or as JSON lines (`settings.log_format`). Called once at the start
    of `om worker`, `om api` and `om dev`; calling it again replaces the
    handler it installed instead of adding a second one.

    In JSON mode the Temporal loggers stop appending their context to the
    message text: it is already in the JSON keys."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler._om_telemetry = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_om_telemetry", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    text = settings.log_format == "text"
    workflow.logger.workflow_info_on_message = text
    activity.logger.activity_info_on_message = text
    return handler


# ---- tracing ---------------------------------------------------------------------


def interceptors_for(settings: Settings) -> list[Interceptor]:
    """Client interceptors: Temporal's OpenTelemetry TracingInterceptor when
    `settings.otel_tracing` is on, else none. On the client it also applies
    to every worker built from that client (workflow and activity spans).

    Spans go to the global tracer provider; when OTEL_EXPORTER_OTLP_ENDPOINT
    is set we install one exporting over OTLP, otherwise the provider is the
    deployment's to set. Raises TelemetryUnavailable when the `otel` extra
    is not installed."""
    if not settings.otel_tracing:
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as error:
        raise _missing_otel(error) from error
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        _export_spans_over_otlp(os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"))
    return [TracingInterceptor()]


def _missing_otel(error: ImportError) -> TelemetryUnavailable:
    return TelemetryUnavailable(
        f"otel_tracing (OM_OTEL_TRACING) is on but OpenTelemetry is not installed "
        f"({error.name or error}): run `{OTEL_INSTALL_HINT}`"
    )


@cache
def _export_spans_over_otlp(protocol: str) -> None:
    """Install a global tracer provider batching spans to the OTLP endpoint
    named by the standard OTEL_EXPORTER_OTLP_* variables (once per process:
    OpenTelemetry refuses to replace a global provider)."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if protocol.startswith("http"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )
    except ImportError as error:
        raise _missing_otel(error) from error
    # OTEL_SERVICE_NAME, when set, names the service; passing a name would override it.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "om-orchestrator"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
