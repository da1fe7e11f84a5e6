"""Integration fixtures: a real sandbox (Salesforce REST over TLS, support
desk, license service, chat webhook) on free ports, seeded with the demo
data, and the settings that point the real adapters at it.

Tests that change records should seed their own opportunity
(`seed_opportunity`) so the demo data stays as seeded for everyone else.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from activities.config import SalesforceSettings, ServiceSettings
from activities.license_service import LicenseServiceClient
from activities.notifications import NotificationClient
from activities.salesforce import SalesforceAdapter
from activities.support_desk import SupportDeskClient
from om.settings import Settings, load_settings
from sandbox.client import SandboxAdminClient
from sandbox.seed import load_demo_seed
from sandbox.server import Sandbox, SandboxInfo


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """A running sandbox with the demo data; `.home` holds its sandbox.json."""
    running = Sandbox(tmp_path_factory.mktemp("om-home"))
    info = running.start()
    try:
        SandboxAdminClient(info.admin_url, info.session_id).seed(load_demo_seed())
        yield info
    finally:
        running.stop()


@pytest.fixture(scope="session")
def om_settings(sandbox: SandboxInfo) -> Settings:
    """Settings whose connections point at the `sandbox`."""
    return Settings(
        home=sandbox.home,
        salesforce=SalesforceSettings(
            instance_url=sandbox.salesforce_instance_url,
            session_id=sandbox.session_id,
            session_id_file=sandbox.salesforce_session_file,
            ca_file=sandbox.ca_file,
        ),
        support_desk=ServiceSettings(
            url=sandbox.support_desk_url, token=sandbox.support_desk_token
        ),
        license_service=ServiceSettings(
            url=sandbox.license_service_url, token=sandbox.license_service_token
        ),
        notifications=ServiceSettings(
            url=sandbox.notifications_url, token=sandbox.notifications_token
        ),
    )


@pytest.fixture(scope="session")
def sandbox_admin(sandbox: SandboxInfo) -> SandboxAdminClient:
    return SandboxAdminClient(sandbox.admin_url, sandbox.session_id)


@pytest.fixture
def seed_opportunity(
    sandbox_admin: SandboxAdminClient, example_payload: dict[str, Any]
) -> Callable[..., str]:
    """Seed a fresh copy of the contract example under a new id; returns the id.

    `seed_opportunity(delivered_license=True, urgent=True)`: keyword
    arguments replace top-level contract fields.
    """

    def seed(delivered_license: bool = False, **changes: Any) -> str:
        payload = copy.deepcopy(example_payload)
        payload.update(changes)
        payload["id"] = changes.get("id") or "006T" + uuid.uuid4().hex[:12].upper()
        sandbox_admin.seed(
            {
                "opportunities": [payload],
                "delivered_licenses": [payload["id"]] if delivered_license else [],
            }
        )
        return str(payload["id"])

    return seed


@pytest.fixture
def salesforce_adapter(om_settings: Settings) -> SalesforceAdapter:
    return SalesforceAdapter(om_settings.salesforce)


@pytest.fixture
def support_desk_client(om_settings: Settings) -> SupportDeskClient:
    return SupportDeskClient(om_settings.support_desk)


@pytest.fixture
def license_client(om_settings: Settings) -> LicenseServiceClient:
    return LicenseServiceClient(om_settings.license_service)


@pytest.fixture
def notification_client(om_settings: Settings) -> NotificationClient:
    return NotificationClient(om_settings.notifications)


@pytest.fixture
def om_home(sandbox: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxInfo]:
    """`load_settings()` (and so the `om` commands) find the sandbox's home."""
    monkeypatch.setenv("OM_HOME", str(sandbox.home))
    load_settings.cache_clear()
    yield sandbox
    load_settings.cache_clear()
