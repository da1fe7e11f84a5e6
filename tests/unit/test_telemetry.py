"""Telemetry settings and helpers: JSON log lines, metrics runtime, tracing
interceptor, and the clear errors when a setting cannot be honoured."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from temporalio import activity, workflow
from temporalio.testing import ActivityEnvironment

from om import telemetry
from om.settings import Settings
from om.telemetry import (
    JsonFormatter,
    TelemetryUnavailable,
    configure_logging,
    interceptors_for,
    runtime_for,
)
from tests.devserver import free_port


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    on_message = (
        workflow.logger.workflow_info_on_message,
        activity.logger.activity_info_on_message,
    )
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = on_message


def _json_line(logger: logging.Logger | logging.LoggerAdapter, *args, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    """What `logger.info(*args, **kwargs)` writes as a JSON line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    base = logger.logger if isinstance(logger, logging.LoggerAdapter) else logger
    base.addHandler(handler)
    level = base.level
    base.setLevel(logging.DEBUG)
    try:
        logger.info(*args, **kwargs)
    finally:
        base.removeHandler(handler)
        base.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


# ---- settings --------------------------------------------------------------------


def test_observability_settings_default_to_off_and_plain_text():
    settings = Settings()
    assert settings.metrics_bind is None and settings.api_metrics is True
    assert (settings.log_format, settings.log_level, settings.otel_tracing) == (
        "text",
        "INFO",
        False,
    )


def test_observability_settings_read_from_om_environment(monkeypatch):
    monkeypatch.setenv("OM_METRICS_BIND", "0.0.0.0:9464")
    monkeypatch.setenv("OM_LOG_FORMAT", "json")
    monkeypatch.setenv("OM_LOG_LEVEL", "debug")
    monkeypatch.setenv("OM_OTEL_TRACING", "true")
    monkeypatch.setenv("OM_API_METRICS", "false")
    settings = Settings()
    assert settings.metrics_bind == "0.0.0.0:9464" and settings.log_level == "DEBUG"
    assert settings.log_format == "json" and settings.otel_tracing and not settings.api_metrics


@pytest.mark.parametrize("bind", ["9464", "localhost", "host:port", ":9464", "0.0.0.0:70000"])
def test_metrics_bind_without_host_and_port_is_refused_naming_the_field(bind):
    with pytest.raises(ValidationError) as refused:
        Settings(metrics_bind=bind)
    error = refused.value.errors()[0]
    assert error["loc"] == ("metrics_bind",)
    assert "metrics_bind must be host:port" in error["msg"] and repr(bind) in error["msg"]


def test_log_format_outside_text_and_json_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as refused:
        Settings(log_format="xml")
    assert refused.value.errors()[0]["loc"] == ("log_format",)


# ---- JSON log lines -----------------------------------------------------------------


def test_json_line_flattens_the_workflow_context_temporal_attaches():
    """The shape workflow.logger puts on a record (`temporal_workflow`)."""
    context = {
        "attempt": 1,
        "namespace": "default",
        "run_id": "r-1",
        "task_queue": "order-management",
        "workflow_id": "opportunity-006A",
        "workflow_type": "OpportunityApprovalWorkflow",
        "update_name": "decide",
    }
    line = _json_line(
        logging.getLogger("test.workflow"),
        "round %d opened",
        2,
        extra={"temporal_workflow": context},
    )
    assert line["message"] == "round 2 opened" and line["level"] == "INFO"
    assert line["logger"] == "test.workflow" and line["ts"].endswith("Z")
    assert line["workflow_id"] == "opportunity-006A" and line["run_id"] == "r-1"
    assert line["workflow_type"] == "OpportunityApprovalWorkflow" and line["attempt"] == 1
    assert line["update_name"] == "decide" and "temporal_workflow" not in line


def test_json_line_of_activity_logger_carries_activity_and_workflow_ids():
    """Through temporalio's real activity logger adapter."""
    logger = activity.logger.base_logger
    lines: list[dict] = []

    def log_from_activity() -> None:
        lines.append(_json_line(activity.logger, "checking delivery"))

    activity.logger.activity_info_on_message = False
    try:
        ActivityEnvironment().run(log_from_activity)
    finally:
        activity.logger.activity_info_on_message = True
    (line,) = lines
    assert line["message"] == "checking delivery" and line["logger"] == logger.name
    assert line["activity_type"] == "unknown" and line["attempt"] == 1
    assert line["workflow_id"] == "test" and line["run_id"] == "test-run"
    assert "workflow_run_id" not in line


def test_json_line_survives_extras_json_cannot_hold():
    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    line = _json_line(
        logging.getLogger("test.extras"),
        "odd extras",
        extra={"thing": Opaque(), "keyed": {("a", 1): "tuple key"}, "count": 3},
    )
    assert line["message"] == "odd extras" and line["count"] == 3
    assert line["thing"] == "opaque!" and "tuple key" in line["keyed"]


def test_json_line_carries_the_exception_with_its_traceback():
    logger = logging.getLogger("test.exception")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad round")
        except ValueError:
            logger.exception("decision failed")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["level"] == "ERROR" and line["message"] == "decision failed"
    assert "Traceback" in line["exception"] and "ValueError: bad round" in line["exception"]


def test_configure_logging_json_replaces_its_own_handler_and_sets_level(restore_logging):
    first, second = io.StringIO(), io.StringIO()
    configure_logging(Settings(log_format="json", log_level="WARNING"), first)
    configure_logging(Settings(log_format="json", log_level="WARNING"), second)
    logging.getLogger("test.configured").info("below the level")
    logging.getLogger("test.configured").warning("sla %s", "breached")
    assert first.getvalue() == ""
    (line,) = [json.loads(raw) for raw in second.getvalue().splitlines()]
    assert line["message"] == "sla breached" and line["logger"] == "test.configured"
    # The context is in the JSON keys; Temporal need not repeat it in the message.
    assert workflow.logger.workflow_info_on_message is False
    assert activity.logger.activity_info_on_message is False


def test_configure_logging_text_keeps_temporal_context_in_the_message(restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(), stream)
    logging.getLogger("test.text").info("plain")
    assert stream.getvalue().rstrip().endswith("INFO test.text: plain")
    assert workflow.logger.workflow_info_on_message is True


# ---- metrics runtime -----------------------------------------------------------------


def test_runtime_for_is_none_without_metrics_bind():
    assert runtime_for(Settings()) is None


def test_runtime_for_is_one_runtime_per_bind_address():
    bind = f"127.0.0.1:{free_port()}"
    runtime = runtime_for(Settings(metrics_bind=bind))
    assert runtime is not None and runtime_for(Settings(metrics_bind=bind)) is runtime


def test_runtime_on_a_taken_port_names_the_setting():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(TelemetryUnavailable, match="metrics_bind 127.0.0.1:"):
            runtime_for(Settings(metrics_bind=bind))


# ---- tracing ---------------------------------------------------------------------------


def test_no_interceptors_unless_otel_tracing():
    assert interceptors_for(Settings()) == []


def test_otel_tracing_gives_temporals_tracing_interceptor(monkeypatch):
    from temporalio.contrib.opentelemetry import TracingInterceptor

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    (interceptor,) = interceptors_for(Settings(otel_tracing=True))
    assert isinstance(interceptor, TracingInterceptor)


def test_otel_tracing_without_opentelemetry_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "temporalio.contrib.opentelemetry", None)
    with pytest.raises(TelemetryUnavailable) as missing:
        interceptors_for(Settings(otel_tracing=True))
    message = str(missing.value)
    assert "OM_OTEL_TRACING" in message and "pip install -e '.[otel]'" in message


def test_otlp_endpoint_without_the_exporter_says_what_to_install(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    monkeypatch.setattr(
        telemetry, "_export_spans_over_otlp", telemetry._export_spans_over_otlp.__wrapped__
    )
    with pytest.raises(TelemetryUnavailable, match=r"pip install -e '\.\[otel\]'"):
        interceptors_for(Settings(otel_tracing=True))


async def test_connect_passes_interceptors_and_metrics_runtime(monkeypatch):
    from temporalio.client import Client
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from om import client as client_module

    seen: list[dict] = []

    async def fake_connect(address, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs)
        return "client"

    monkeypatch.setattr(Client, "connect", fake_connect)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    settings = Settings(metrics_bind=f"127.0.0.1:{free_port()}", otel_tracing=True)
    await client_module.connect(settings)
    await client_module.connect(settings, serve_metrics=False)
    await client_module.connect(Settings())
    served, one_shot, plain = seen
    assert served["runtime"] is runtime_for(settings)
    assert one_shot["runtime"] is client_module.one_shot_runtime()
    assert isinstance(served["interceptors"][0], TracingInterceptor)
    assert plain["runtime"] is None and plain["interceptors"] == []
