"""Chaos: every opportunity still reaches the end, each side effect once.

Each scenario drives 100 opportunities at once through the whole cycle
(half with the license delivered by automation, half needing a Support
ticket and a manual delivery) while something breaks, then checks in the
sandbox that every workflow completed and that the CRM's tracked stage
changes, the Chatter posts and the tickets are exactly what the accepted
decisions call for: none missing, none doubled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from loadtest.cycle import (
    Driver,
    RunReport,
    make_cases,
    run_cycles,
    seed_cases,
    side_effect_problems,
)
from tests.chaos.conftest import Stack

pytestmark = pytest.mark.chaos

N = 100


async def until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def scenario(
    stack: Stack,
    template: dict[str, Any],
    during: Callable[[Driver], Awaitable[None]] | None = None,
    **driver_options: Any,
) -> RunReport:
    cases = make_cases(N, template, prefix="006C")
    await asyncio.to_thread(seed_cases, stack.admin, cases)
    driver = stack.driver(**driver_options)
    report = await asyncio.wait_for(
        run_cycles(
            driver, cases, concurrency=N, during=(lambda: during(driver)) if during else None
        ),
        timeout=900,  # a safety net against a hang, not a performance target
    )
    problems = await asyncio.to_thread(side_effect_problems, stack.admin, cases)
    assert problems == [], f"{len(problems)} problems, first: {problems[:5]}"
    return report


async def mid_run(driver: Driver) -> int:
    """Wait until all N are in flight and decisions have begun; how many are in flight.

    The first decisions come long before the first case can complete (that
    takes both decisions and the license step), so this moment always exists;
    asking for more decisions could miss it, as cases start to complete."""
    await until(lambda: driver.in_flight == N and bool(driver.latencies), "mid-run", timeout=360)
    return driver.in_flight


async def test_worker_killed_mid_run_and_restarted(stack: Stack, example_payload):
    seen: list[int] = []

    async def kill_worker(driver: Driver) -> None:
        seen.append(await mid_run(driver))
        stack.worker.kill()
        await asyncio.sleep(2)
        stack.worker.start()

    await scenario(stack, example_payload, kill_worker, reject_first_share=0.2)
    assert seen[0] >= 100


async def test_temporal_server_restarted_on_its_sqlite_file(stack: Stack, example_payload):
    seen: list[int] = []

    async def restart_server(driver: Driver) -> None:
        seen.append(await mid_run(driver))
        await asyncio.to_thread(stack.temporal.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.temporal.start)

    await scenario(stack, example_payload, restart_server, reject_first_share=0.2)
    assert seen[0] >= 100


async def test_salesforce_throttles_fails_and_expires_sessions(stack: Stack, example_payload):
    used: list[str] = []

    async def salesforce_faults(driver: Driver) -> None:
        for fault in (
            {"status": 503, "count": 30},
            {"status": 429, "error_code": "REQUEST_LIMIT_EXCEEDED", "count": 30},
            {"status": 401, "error_code": "INVALID_SESSION_ID", "count": 30},
        ):
            await asyncio.to_thread(stack.admin.set_faults, {"salesforce": fault})
            await until(lambda: "salesforce" not in stack.admin.faults(), f"{fault} to be used up")
            used.append(str(fault["status"]))
        # The org expires the session outright: the adapter must pick up
        # the new one from its session file, not keep failing.
        decided = len(driver.latencies)
        await asyncio.to_thread(stack.admin.rotate_salesforce_session)
        used.append("rotated")
        await until(lambda: len(driver.latencies) >= min(decided + 10, 2 * N), "progress")

    await scenario(stack, example_payload, salesforce_faults, reject_first_share=0.2)
    assert used == ["503", "429", "401", "rotated"]


async def test_desk_fails_after_creating_and_license_service_times_out(
    stack: Stack, example_payload
):
    async def desk_and_license_faults(driver: Driver) -> None:
        await asyncio.to_thread(
            stack.admin.set_faults,
            {
                "support_desk": {"status": 500, "after_create": True, "count": 20},
                "license": {"delay_seconds": 2, "count": 30},
            },
        )
        await until(lambda: stack.admin.faults() == {}, "the desk and license faults to be used")

    await scenario(stack, example_payload, desk_and_license_faults)


async def test_fifty_concurrent_conflicting_decisions_exactly_one_accepted(
    stack: Stack, example_payload
):
    report = await scenario(stack, example_payload, contenders=50)
    refused = sum(case.refused for case in report.cases)
    # One contended review per opportunity, 49 refusals each; a rejection
    # that won adds a round, which is not contended.
    assert refused == N * 49
    assert any(("om", "reject") in case.accepted for case in report.cases)
    assert any(("finance", "reject") in case.accepted for case in report.cases)
