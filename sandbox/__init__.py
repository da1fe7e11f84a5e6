"""Local stand-ins for Salesforce REST (TLS), a Zendesk-style support desk and
the license service, with demo data and fault injection.

Used by `make run`, `om sandbox` and the tests; production code never
imports it. `Sandbox(home).start()` returns a `SandboxInfo`;
`SandboxAdminClient` drives the admin API of a running one. Names are
imported lazily so `om` commands that only talk to a running sandbox do not
load the servers (FastAPI, uvicorn).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Sandbox": "sandbox.server",
    "SandboxInfo": "sandbox.server",
    "SandboxStartError": "sandbox.server",
    "run_sandbox": "sandbox.server",
    "SandboxAdminClient": "sandbox.client",
    "SandboxAdminError": "sandbox.client",
    "SandboxNotRunning": "sandbox.client",
    "DEMO_SEED": "sandbox.seed",
    "SeedError": "sandbox.seed",
    "load_demo_seed": "sandbox.seed",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
