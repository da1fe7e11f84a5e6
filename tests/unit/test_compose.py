"""docker-compose.yml is for users (no Docker engine here): check it parses
and wires the topology the README describes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from domain.settings import Settings

ROOT = Path(__file__).parents[2]


def test_compose_has_temporal_on_postgres_ui_worker_and_api():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker", "api"} <= set(services)
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    for name in ("worker", "api"):
        assert services[name]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert services[name]["build"] == "."
    assert services["api"]["command"][:2] == ["om", "api"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("worker", "api"):
        url = services[name]["environment"]["OM_REPORTING_URL"]
        assert url.startswith("postgresql+psycopg://") and "@postgresql:5432/" in url


def test_compose_settings_file_loads_as_settings(monkeypatch):
    file = ROOT / "deploy" / "settings.json"
    json.loads(file.read_text())
    monkeypatch.setenv("OM_SETTINGS_FILE", str(file))
    settings = Settings()
    assert settings.task_queue == "order-management"
    assert settings.support_desk.url == "https://example.zendesk.com"


def _settings_under(environment: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings as the service's process reads them from its environment."""
    for name in ("OM_METRICS_BIND", "OM_LOG_FORMAT", "OM_API_METRICS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("OM_SETTINGS_FILE")  # a path inside the container
    return Settings()


def test_compose_worker_serves_sdk_metrics_and_both_log_json(monkeypatch):
    """The worker replicas serve Temporal SDK metrics on the compose network
    only (no host port: two replicas could not share one), the API serves its
    own /metrics on its port, and both log JSON lines."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    worker, api = services["worker"], services["api"]
    assert "9464" in [str(port) for port in worker.get("expose", [])]
    assert "ports" not in worker

    on_worker = _settings_under(worker["environment"], monkeypatch)
    assert on_worker.metrics_bind == "0.0.0.0:9464" and on_worker.log_format == "json"
    on_api = _settings_under(api["environment"], monkeypatch)
    assert on_api.metrics_bind is None and on_api.log_format == "json" and on_api.api_metrics
