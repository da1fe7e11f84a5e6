"""Settings load the policy, the connections and the infrastructure from the
environment in one model, whichever layer declares a field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from activities.config import AdapterSettings
from domain.policy import Policy
from om.settings import Settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("OM_SETTINGS_FILE", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "field", "value", "expected"),
    [
        ("OM_LICENSE_RECHECK_INTERVAL", "license_recheck_interval", "1s", timedelta(seconds=1)),
        ("OM_INTAKE_POLL_INTERVAL", "intake_poll_interval", "10m", timedelta(minutes=10)),
        ("OM_REPORTING_INTERVAL", "reporting_interval", "1h", timedelta(hours=1)),
        ("OM_COVER_BUSINESS_DAYS", "cover_business_days", "0", 0),
        ("OM_HOME", "home", "/tmp/om-home", Path("/tmp/om-home")),
        ("TEMPORAL_ADDRESS", "temporal_address", "10.0.0.1:7233", "10.0.0.1:7233"),
    ],
)
def test_every_layer_reads_its_fields_from_the_environment(
    environment: pytest.MonkeyPatch, variable: str, field: str, value: str, expected: object
) -> None:
    environment.setenv(variable, value)
    assert getattr(Settings(), field) == expected


def test_settings_are_the_policy_and_the_adapters_settings(environment: pytest.MonkeyPatch):
    settings = Settings(cover_business_days=1)
    assert isinstance(settings, AdapterSettings) and isinstance(settings, Policy)
    assert settings.user("OM.AMER@example.com") is not None


def test_a_bad_duration_names_the_field(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("OM_LICENSE_RECHECK_INTERVAL", "soon")
    with pytest.raises(ValueError, match="license_recheck_interval"):
        Settings()
