"""docker-compose.yml is for users (no Docker engine here): check it parses
and wires the topology the README describes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

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
    from domain.settings import Settings

    file = ROOT / "deploy" / "settings.json"
    json.loads(file.read_text())
    monkeypatch.setenv("OM_SETTINGS_FILE", str(file))
    settings = Settings()
    assert settings.task_queue == "order-management"
    assert settings.support_desk.url == "https://example.zendesk.com"
