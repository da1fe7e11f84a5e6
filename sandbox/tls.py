"""The Salesforce stand-in's TLS: a local CA made with trustme, kept under
`<home>/tls/` so a restart serves the same certificate and clients keep
trusting `ca.pem`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def ensure_tls(home: Path) -> TlsFiles:
    """The CA bundle and server certificate under `home/tls`, made on first use."""
    folder = home / "tls"
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    if all(p.exists() for p in (files.ca_file, files.cert_file, files.key_file)):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = folder / "ca-key.pem"
    if files.ca_file.exists() and ca_key.exists():
        # Keep the CA clients already trust; only the server certificate is new.
        ca = trustme.CA.from_pem(files.ca_file.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="OM sandbox")
        ca_key.write_bytes(ca.private_key_pem.bytes())
        ca_key.chmod(0o600)
        files.ca_file.write_bytes(ca.cert_pem.bytes())
    leaf = ca.issue_cert(*HOSTS)
    files.key_file.write_bytes(leaf.private_key_pem.bytes())
    files.key_file.chmod(0o600)
    files.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return files
