"""`make test-dates`: the date-sensitive suites with "now" pinned to awkward instants.

Each instant is a rule ("the last business day of the next quarter, 10:00
Pacific", "16:31 in Manila on its next business day", "one minute after
London's next clock change") resolved to its next occurrence after the wall
clock, because the time-skipping test server's clock can only move forward.
The rules are fixed; the instants they give move with the calendar, so
every run pins the same kinds of day. `--list` prints them.

For each instant, pytest runs `SUITES` with `OM_TEST_NOW` set: the
time-skipping server is moved to that instant before any workflow runs and
the tests take "now" from it (tests/clock.py). Tests on a real clock (dev
server, sandbox) are skipped there; they pin their policy instead.

Usage: python -m tests.dates [--jobs N] [--list] [-- extra pytest args]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from domain.calendar import calendar_for
from domain.models import Region
from tests.clock import PIN_VARIABLE

ROOT = Path(__file__).resolve().parents[1]

# The suites whose workflows read the clock through the time-skipping server
# and the real regional calendars (cover, cutoff, hours, holidays, Billing's
# due date, the daily license review).
SUITES = [
    "tests/workflow/test_pinned_now.py",
    "tests/workflow/test_opportunity_approval.py",
    "tests/workflow/test_review_sla.py",
    "tests/workflow/test_console.py",
    "tests/workflow/test_api.py",
    "tests/workflow/test_license_review_workflow.py",
    "tests/workflow/test_periodic_workflows.py",
    "tests/workflow/test_renewal_reconciliation_workflow.py",
]

# Far enough ahead that the test server (started after the list is made) is
# still before the instant when it is pinned.
_MARGIN = timedelta(hours=1)
_DST_ZONES = ("America/Los_Angeles", "Europe/London")


@dataclass(frozen=True)
class Instant:
    """One pinned "now": what kind of instant it is, and when."""

    label: str
    at: datetime
    zone: str

    @property
    def local(self) -> str:
        # The zone's name, not its abbreviation: tzdata calls Manila "PST" too.
        local = self.at.astimezone(ZoneInfo(self.zone)).strftime("%a %Y-%m-%d %H:%M")
        return f"{local} {self.zone}"


def _at(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, wall_time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _days(start: date) -> Iterator[date]:
    day = start
    while True:
        yield day
        day += timedelta(days=1)


def _last_business_day(region: Region, year: int, month: int) -> date:
    cal = calendar_for(region)
    first_next = date(year + month // 12, month % 12 + 1, 1)
    day = first_next - timedelta(days=1)
    while not cal.is_business_day(day):
        day -= timedelta(days=1)
    return day


def _period_ends(after: datetime, quarter: bool) -> Instant:
    """10:00 Pacific on the next last business day of a month (or quarter)."""
    zone = "America/Los_Angeles"
    year, month = after.year, after.month
    while True:
        if not quarter or month % 3 == 0:
            at = _at(_last_business_day(Region.AMER, year, month), 10, 0, zone)
            if at > after:
                kind = "quarter" if quarter else "month"
                return Instant(f"last business day of a {kind} (AMER)", at, zone)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _around_cutoff(after: datetime) -> Iterator[Instant]:
    """16:29 and 16:31 local on each region's next business day."""
    for region in Region:
        cal = calendar_for(region)
        zone = str(cal.tz)
        for day in _days(after.date() + timedelta(days=1)):
            if cal.is_business_day(day):
                break
        for minute in (29, 31):
            yield Instant(f"16:{minute} local ({region.value})", _at(day, 16, minute, zone), zone)


def _next_holiday(after: datetime, label: str, zone: str, names: dict[date, str]) -> Instant:
    """10:00 local on the next weekday in `names`."""
    for day in sorted(names):
        at = _at(day, 10, 0, zone)
        if day.weekday() < 5 and at > after:
            return Instant(f"{label}: {names[day]}", at, zone)
    raise ValueError(f"no {label} after {after}")


def _holidays(after: datetime) -> Iterator[Instant]:
    years = [after.year, after.year + 1, after.year + 2]
    us = holidays.country_holidays("US", years=years)
    yield _next_holiday(after, "US holiday", "America/Los_Angeles", dict(us))
    # The days England keeps that the union-wide GB calendar lacks (Easter
    # Monday, the Summer bank holiday): where a wrong subdivision would show.
    england = holidays.country_holidays("GB", subdiv="ENG", years=years)
    union = holidays.country_holidays("GB", years=years)
    only_england = {d: name for d, name in england.items() if d not in union}
    yield _next_holiday(after, "GB-ENG bank holiday", "Europe/London", only_england)
    ph = holidays.country_holidays("PH", years=years)
    yield _next_holiday(after, "PH holiday", "Asia/Manila", dict(ph))


def _dst_changes(after: datetime) -> Iterator[Instant]:
    """One minute after each clock change of the next year, per zone."""
    for zone in _DST_ZONES:
        tz = ZoneInfo(zone)
        found = 0
        at = after.replace(minute=0, second=0, microsecond=0)
        offset = at.astimezone(tz).utcoffset()
        while found < 2:
            later = at + timedelta(hours=1)
            if later.astimezone(tz).utcoffset() != offset:
                offset = later.astimezone(tz).utcoffset()
                kind = "starts" if tz.dst(later.astimezone(tz).replace(tzinfo=None)) else "ends"
                yield Instant(f"DST {kind} ({zone})", later + timedelta(minutes=1), zone)
                found += 1
            at = later


def awkward_instants(now: datetime | None = None) -> list[Instant]:
    """The pinned instants for a run starting at `now` (default: the wall clock)."""
    after = (now or datetime.now(UTC)) + _MARGIN
    instants = [_period_ends(after, quarter=False), _period_ends(after, quarter=True)]
    instants += [*_around_cutoff(after), *_holidays(after), *_dst_changes(after)]
    return instants


def _run(instant: Instant, extra: list[str]) -> tuple[Instant, int, float, str]:
    env = {**os.environ, PIN_VARIABLE: instant.at.isoformat()}
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            *SUITES,
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    return instant, done.returncode, time.monotonic() - started, "\n".join(lines[-40:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--list", action="store_true", help="print the instants and stop")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    instants = awkward_instants()
    if args.list:
        for instant in instants:
            print(f"{instant.at.isoformat():32} {instant.local:42} {instant.label}")
        return 0
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for instant, code, seconds, tail in pool.map(lambda i: _run(i, extra), instants):
            summary = tail.splitlines()[-1] if tail else "no output"
            mark = "ok  " if code == 0 else "FAIL"
            print(
                f"{mark} {instant.local:42} {instant.label:42} {summary} ({seconds:.0f} s)",
                flush=True,
            )
            if code != 0:
                failed += 1
                print(f"---- {PIN_VARIABLE}={instant.at.isoformat()}\n{tail}\n----", flush=True)
    print(f"test-dates: {len(instants) - failed} of {len(instants)} pinned instants passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
