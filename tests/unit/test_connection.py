"""Temporal connection settings -> `Client.connect` keyword arguments.

Unit level only: the dev server (`temporal server start-dev`) and the
time-skipping test server serve plain gRPC, so there is no TLS frontend to
handshake with here; what can go wrong on our side (which files are read,
which combination is refused, what reaches `Client.connect`) is covered.
"""

from __future__ import annotations

import pytest
import trustme
from pydantic import SecretStr
from temporalio.service import TLSConfig

from om.connection import (
    TemporalConnection,
    TemporalConnectionError,
    connect_kwargs,
    connection_settings,
)
from om.settings import Settings


@pytest.fixture
def pki(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("om-worker")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    cert.private_key_pem.write_to_path(tmp_path / "client.key")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "client.pem")
    return tmp_path


def test_defaults_are_plain_grpc():
    assert connect_kwargs(TemporalConnection()) == {}
    assert connection_settings(Settings()) == TemporalConnection()


def test_tls_with_system_roots():
    kwargs = connect_kwargs(TemporalConnection(tls=True))
    assert kwargs == {"tls": TLSConfig()}


def test_mtls_reads_the_named_files(pki):
    conn = TemporalConnection(
        server_root_ca_file=pki / "ca.pem",
        client_cert_file=pki / "client.pem",
        client_key_file=pki / "client.key",
        server_name="om.tmprl.example",
    )
    tls = connect_kwargs(conn)["tls"]
    assert tls.server_root_ca_cert == (pki / "ca.pem").read_bytes()
    assert tls.client_cert == (pki / "client.pem").read_bytes()
    assert tls.client_private_key == (pki / "client.key").read_bytes()
    assert tls.domain == "om.tmprl.example"


def test_api_key_implies_tls_and_file_wins(tmp_path):
    assert connect_kwargs(TemporalConnection(api_key=SecretStr("k-inline"))) == {
        "tls": TLSConfig(),
        "api_key": "k-inline",
    }
    file = tmp_path / "api-key"
    file.write_text("k-from-file\n")
    kwargs = connect_kwargs(TemporalConnection(api_key=SecretStr("x"), api_key_file=file))
    assert kwargs["api_key"] == "k-from-file"


@pytest.mark.parametrize(
    "setting", ["server_root_ca_file", "client_cert_file", "client_key_file", "api_key_file"]
)
def test_missing_file_names_the_setting(pki, setting):
    files = {"client_cert_file": pki / "client.pem", "client_key_file": pki / "client.key"}
    files[setting] = pki / "missing.pem"
    with pytest.raises(
        TemporalConnectionError, match=rf"temporal_connection\.{setting}: .*missing"
    ):
        connect_kwargs(TemporalConnection(**files))


def test_half_an_mtls_pair_is_refused(pki):
    with pytest.raises(TemporalConnectionError, match="client_key_file is required"):
        connect_kwargs(TemporalConnection(client_cert_file=pki / "client.pem"))
    with pytest.raises(TemporalConnectionError, match="client_cert_file is required"):
        connect_kwargs(TemporalConnection(client_key_file=pki / "client.key"))


def test_empty_api_key_file_is_refused(tmp_path):
    (tmp_path / "k").write_text("\n")
    with pytest.raises(TemporalConnectionError, match="api_key_file: .* is empty"):
        connect_kwargs(TemporalConnection(api_key_file=tmp_path / "k"))


def test_settings_field_is_read_when_present(pki):
    class WithConnection(Settings):
        temporal_connection: TemporalConnection = TemporalConnection()

    settings = WithConnection(temporal_connection={"tls": True, "server_name": "x"})
    assert connect_kwargs(connection_settings(settings))["tls"].domain == "x"


async def test_connect_passes_tls_to_client(monkeypatch):
    """`om.client.connect` hands the kwargs to `Client.connect`."""
    from temporalio.client import Client

    from om import client as client_module

    class WithConnection(Settings):
        temporal_connection: TemporalConnection = TemporalConnection()

    seen = {}

    async def fake_connect(address, **kwargs):
        seen.update(kwargs, address=address)
        return "client"

    monkeypatch.setattr(Client, "connect", fake_connect)
    settings = WithConnection(temporal_connection={"api_key": "k"}, temporal_address="c:7233")
    assert await client_module.connect(settings) == "client"
    assert seen["api_key"] == "k" and seen["tls"] == TLSConfig() and seen["address"] == "c:7233"
