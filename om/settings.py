"""Settings of a process: the policy, the connections, and the infrastructure.

Everything here can be overridden by environment variables with the `OM_`
prefix (nested fields with `__`, e.g. `OM_SALESFORCE__INSTANCE_URL`) or by a
JSON file named in `OM_SETTINGS_FILE`. Temporal's own variables
`TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE` are honoured as they are.

`Settings` extends `activities.config.AdapterSettings` (connections) which
extends `domain.policy.Policy` (policy as data), so workflows and activities
take only what they need while a process loads everything in one place.

When nothing points at a real Salesforce org, support desk or license
service, the connection settings fall back to what the local sandbox wrote
to `<home>/sandbox.json` when it started, so `make run` and `om ...` work
with nothing to configure.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from activities.config import AdapterSettings, ServiceSettings
from domain.policy import parse_duration
from om.identity import OidcSettings


class PayloadEncryption(BaseModel):
    """Settings of payload encryption (`Settings.payload_encryption`).

    Off by default so a fresh checkout runs with nothing to configure; a
    deployment turns it on with keys from the environment
    (`OM_PAYLOAD_ENCRYPTION__KEYS='{"k2": "..."}'`) or a file it names, never
    from the repository.
    """

    enabled: bool = False
    keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Key id -> base64 of a 32-byte AES key; the first one encrypts",
    )
    keys_file: Path | None = Field(
        default=None,
        description="JSON file {key id: base64 key}, merged after `keys` (mounted secret)",
    )
    active_key_id: str | None = Field(
        default=None, description="Key id that encrypts new payloads (default: the first key)"
    )
    ui_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8233", "http://localhost:8080"],
        description="Temporal UI origins allowed to call the codec endpoint (CORS)",
    )


class TemporalConnection(BaseModel):
    """Settings of the Temporal connection (`Settings.temporal_connection`;
    environment `OM_TEMPORAL_CONNECTION__TLS=true` and so on)."""

    tls: bool = Field(
        default=False,
        description="Use TLS; implied by any certificate setting or an API key",
    )
    server_root_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle for the server's certificate (default: system)"
    )
    client_cert_file: Path | None = Field(
        default=None, description="PEM client certificate chain for mutual TLS"
    )
    client_key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate"
    )
    server_name: str | None = Field(
        default=None, description="TLS server name (SNI) when it differs from the address host"
    )
    api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key (sent as a bearer token over TLS)"
    )
    api_key_file: Path | None = Field(
        default=None, description="File holding the API key (mounted secret); wins over api_key"
    )


class WorkerTuning(BaseModel):
    """Cache, slots and pollers of a worker process (`Settings.worker`;
    environment `OM_WORKER__MAX_CACHED_WORKFLOWS=2000` and so on). None
    keeps the Temporal SDK's default; docs/operations.md, "Scaling out: a
    Temporal cluster and several workers", says when to change which, and
    docs/performance.md, "Memory and the worker cache", what each costs."""

    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflows kept in memory between tasks (sticky cache); the main "
        "bound on worker RSS. An evicted workflow is replayed from history on its "
        "next task",
    )
    max_concurrent_workflow_tasks: int | None = Field(
        default=None, ge=2, description="Workflow task slots (SDK default 100)"
    )
    max_concurrent_activities: int | None = Field(
        default=None, ge=1, description="Activity slots (SDK default 100)"
    )
    workflow_task_pollers: int | None = Field(
        default=None, ge=2, description="Concurrent workflow task polls (SDK default 5)"
    )
    activity_task_pollers: int | None = Field(
        default=None, ge=1, description="Concurrent activity task polls (SDK default 5)"
    )


class DevPorts(BaseModel):
    """Ports of what `om dev` (`make run`) starts on 127.0.0.1 (`Settings.dev_ports`;
    environment `OM_DEV_PORTS__TEMPORAL=17233` and so on), e.g. to run a second
    one beside it. `om ...` commands find the sandbox through `<home>/sandbox.json`;
    point them at another Temporal port with TEMPORAL_ADDRESS."""

    temporal: int = Field(default=7233, ge=1, le=65535, description="Temporal frontend (gRPC)")
    temporal_ui: int = Field(
        default=8233, ge=0, le=65535, description="Temporal Web UI (0: no Web UI)"
    )
    api: int = Field(default=8000, ge=1, le=65535, description="HTTP API and console")
    salesforce: int = Field(
        default=8443, ge=0, le=65535, description="Sandbox Salesforce, HTTPS (0: any free port)"
    )
    support_desk: int = Field(
        default=8081, ge=0, le=65535, description="Sandbox support desk (0: any free port)"
    )
    license: int = Field(
        default=8082,
        ge=0,
        le=65535,
        description="Sandbox license service, chat webhook and admin API (0: any free port)",
    )


class Settings(AdapterSettings, BaseSettings):
    """Everything a process is configured with: the policy and the connections
    it inherits, plus where Temporal is, the task queue, the processes'
    intervals, security, tuning and observability."""

    model_config = SettingsConfigDict(env_prefix="OM_", env_nested_delimiter="__", extra="ignore")

    temporal_address: str = Field(
        default="localhost:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "OM_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "OM_TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "order-management"

    continue_as_new_after_events: int | None = Field(
        default=2000,
        gt=0,
        description="An approval workflow continues as new, at its next quiet point, once its "
        "run's history has this many events (None, or empty in the environment: only when "
        "the server suggests it)",
    )
    renewals_apply: bool = Field(
        default=False,
        description="The weekly renewal reconciliation applies its fixes (default: report only)",
    )
    reporting_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the KPI store; None: SQLite at <home>/reporting.db",
    )
    reporting_interval: timedelta = Field(
        default=timedelta(minutes=15),
        description="How often workflow histories are projected into the reporting store",
    )
    queue_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="The API lists the open reviews at most this often and serves every "
        "queue request from that listing (0: list on every request)",
    )
    intake_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret of the Salesforce intake callout's HMAC signature",
    )
    intake_poll_interval: timedelta = Field(
        default=timedelta(minutes=5),
        description="How often the poller looks for submissions whose callout was lost",
    )

    payload_encryption: PayloadEncryption = Field(default_factory=PayloadEncryption)
    temporal_connection: TemporalConnection = Field(default_factory=TemporalConnection)

    worker: WorkerTuning = Field(default_factory=WorkerTuning)
    dev_ports: DevPorts = Field(default_factory=DevPorts)

    metrics_bind: str | None = Field(
        default=None,
        description="host:port where the Temporal runtime serves Prometheus /metrics "
        "(e.g. 0.0.0.0:9464); None: no SDK metrics endpoint",
    )
    api_metrics: bool = Field(default=True, description="The HTTP API serves GET /metrics")
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per log line (for log shippers)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    otel_tracing: bool = Field(
        default=False,
        description="OpenTelemetry spans through Temporal's TracingInterceptor "
        "(needs the `otel` extra); exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set",
    )

    # ---- sign-in (docs/security.md, "Sign-in") ----
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    console_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs console sessions and derives their CSRF tokens; every "
        "replica of the API needs the same one (`om api` refuses to start without it "
        "unless `demo` is on)",
    )
    console_idle: timedelta = Field(
        default=timedelta(minutes=30),
        description="A console session unused this long is over (sign in again)",
    )
    console_max_age: timedelta = Field(
        default=timedelta(hours=12),
        description="A console session is over this long after sign-in, however busy",
    )
    demo: bool = Field(
        default=False,
        description="Demo mode (`om dev` sets it): one-click sign-in as the demo roster, and "
        "a console secret of the local home when none is set",
    )

    @field_validator(
        "intake_poll_interval",
        "reporting_interval",
        "console_idle",
        "console_max_age",
        mode="before",
    )
    @classmethod
    def _parse_interval(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("continue_as_new_after_events", mode="before")
    @classmethod
    def _no_threshold(cls, value: Any) -> Any:
        """`OM_CONTINUE_AS_NEW_AFTER_EVENTS=` (or `none`): no threshold of our own."""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    @field_validator("metrics_bind")
    @classmethod
    def _check_bind(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"metrics_bind must be host:port with a port 1-65535 (e.g. 0.0.0.0:9464), "
                f"not {value!r}"
            )
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then the environment, then `OM_SETTINGS_FILE`."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        file = os.environ.get("OM_SETTINGS_FILE")
        if file:
            sources.append(JsonConfigSettingsSource(settings_cls, json_file=Path(file)))
        return tuple(sources)

    @property
    def sandbox_info_file(self) -> Path:
        return self.home / "sandbox.json"

    def with_sandbox_defaults(self) -> Settings:
        """Fill connection settings left unset from the running sandbox's info file."""
        try:
            info = json.loads(self.sandbox_info_file.read_text())
        except (OSError, ValueError):
            return self
        sf = self.salesforce
        if not sf.instance_url and not sf.username:
            sf = sf.model_copy(
                update={
                    "instance_url": info.get("salesforce_instance_url"),
                    "session_id": info.get("session_id"),
                    "session_id_file": info.get("salesforce_session_file"),
                    "ca_file": info.get("ca_file"),
                }
            )
        desk = _service_from_sandbox(self.support_desk, info, "support_desk")
        lic = _service_from_sandbox(self.license_service, info, "license_service")
        chat = _service_from_sandbox(self.notifications, info, "notifications")
        return self.model_copy(
            update={
                "salesforce": sf,
                "support_desk": desk,
                "license_service": lic,
                "notifications": chat,
            }
        )


def _service_from_sandbox(
    service: ServiceSettings, info: dict[str, Any], prefix: str
) -> ServiceSettings:
    """`service` unchanged when configured, else the sandbox's `<prefix>_url`
    and `<prefix>_token` from its info file."""
    if service.url:
        return service
    return service.model_copy(
        update={"url": info.get(f"{prefix}_url"), "token": info.get(f"{prefix}_token")}
    )


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Settings from the environment over `OM_SETTINGS_FILE` (JSON),
    completed from the sandbox's info file. Cached: call `load_settings.cache_clear()`
    after changing the environment (tests do)."""
    return Settings().with_sandbox_defaults()
