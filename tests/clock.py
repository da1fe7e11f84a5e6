"""The tests' "now": the wall clock, or an instant pinned for `make test-dates`.

Workflows read time only from their Temporal server (`workflow.now()`), so a
test's "now" is its server's clock. The time-skipping test server starts at
the wall clock; with `OM_TEST_NOW` set (an ISO 8601 instant with an offset),
every time-skipping environment the tests start is moved forward to that
instant before any workflow runs, and the tests take "now" and "today" from
the server (`Harness.now()`) or from `clock_now()` here, never from
`datetime.now()`.

The dev server runs on the real clock and cannot be moved. Tests on it stay
independent of the date by pinning the policy they depend on instead
(round-the-clock calendars, no end-of-period cover); under a pinned
instant they are skipped, since running them again would test nothing new.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

PIN_VARIABLE = "OM_TEST_NOW"

_started_wall = time.time()


def pinned_instant() -> datetime | None:
    """The instant `OM_TEST_NOW` pins, or None when the tests run on the wall clock."""
    raw = os.environ.get(PIN_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{PIN_VARIABLE}={raw!r} is not an ISO 8601 instant") from exc
    if at.tzinfo is None:
        raise ValueError(f"{PIN_VARIABLE}={raw!r} needs an offset, e.g. 2027-03-31T16:29-07:00")
    return at.astimezone(UTC)


def clock_now() -> datetime:
    """Now for code outside a Temporal server: the pinned instant plus the
    time this process has run, or the wall clock."""
    pinned = pinned_instant()
    if pinned is None:
        return datetime.now(UTC)
    return pinned + timedelta(seconds=time.time() - _started_wall)


def clock_today() -> date:
    """Today's date in UTC, from `clock_now()`."""
    return clock_now().date()


async def pin_server_clock(env: WorkflowEnvironment) -> None:
    """Move a time-skipping environment's clock forward to the pinned instant.

    The test server's clock only moves forward, so a pinned instant in the
    past is refused rather than silently ignored.
    """
    pinned = pinned_instant()
    if pinned is None:
        return
    current = await env.get_current_time()
    if pinned < current - timedelta(seconds=5):
        raise RuntimeError(
            f"{PIN_VARIABLE}={pinned.isoformat()} is before the test server's clock "
            f"({current.isoformat()}): pin an instant in the future"
        )
    if pinned > current:
        await env.sleep(pinned - current)
