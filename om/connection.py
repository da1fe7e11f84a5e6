"""How to reach a secured Temporal frontend: TLS, mutual TLS, API key.

The same worker image runs against the local dev server (plain gRPC), a
self-hosted cluster behind TLS or mTLS, and Temporal Cloud (mTLS or API
key); only settings change. Certificates, keys and the API key come from
files named by settings (mounted secrets) or from the environment, never
from the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

from om.settings import Settings, TemporalConnection


class TemporalConnectionError(ValueError):
    """A connection setting cannot be used; the message names the setting."""


def connection_settings(settings: Settings) -> TemporalConnection:
    """How to reach the Temporal frontend (plain gRPC unless configured)."""
    return settings.temporal_connection


def _read(path: Path, setting: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as error:
        raise TemporalConnectionError(
            f"temporal_connection.{setting}: cannot read {path} ({error.strerror or error})"
        ) from error


def connect_kwargs(conn: TemporalConnection) -> dict[str, Any]:
    """Keyword arguments for `Client.connect` (`tls=`, `api_key=`).

    Files are read here, at start-up, so a wrong path stops the worker with
    the setting's name instead of a TLS handshake error later. Mutual TLS
    needs both the certificate and the key: one without the other is
    refused rather than silently downgraded to server-only TLS."""
    kwargs: dict[str, Any] = {}
    if (conn.client_cert_file is None) != (conn.client_key_file is None):
        missing = "client_key_file" if conn.client_key_file is None else "client_cert_file"
        raise TemporalConnectionError(
            f"temporal_connection.{missing} is required for mutual TLS "
            "(client_cert_file and client_key_file go together)"
        )
    api_key: str | None = None
    if conn.api_key_file is not None:
        api_key = _read(conn.api_key_file, "api_key_file").decode().strip()
        if not api_key:
            raise TemporalConnectionError(
                f"temporal_connection.api_key_file: {conn.api_key_file} is empty"
            )
    elif conn.api_key is not None:
        api_key = conn.api_key.get_secret_value()
    wants_tls = (
        conn.tls
        or api_key is not None
        or conn.server_root_ca_file is not None
        or conn.client_cert_file is not None
        or conn.server_name is not None
    )
    if wants_tls:
        kwargs["tls"] = TLSConfig(
            server_root_ca_cert=(
                _read(conn.server_root_ca_file, "server_root_ca_file")
                if conn.server_root_ca_file
                else None
            ),
            client_cert=(
                _read(conn.client_cert_file, "client_cert_file") if conn.client_cert_file else None
            ),
            client_private_key=(
                _read(conn.client_key_file, "client_key_file") if conn.client_key_file else None
            ),
            domain=conn.server_name,
        )
    if api_key is not None:
        kwargs["api_key"] = api_key
    return kwargs
