"""Local times as people read them: the region's wall clock, named by region and offset.

Time-zone abbreviations are ambiguous: tzdata calls both Pacific and Philippine
standard time "PST", so a queue mixing AMER and APAC deadlines would label both
"PST". A label instead carries the region and the numeric UTC offset in force
at that instant, e.g. ``Fri 07:00 AMER (UTC-08:00)`` or ``Tue 09:00 APAC
(UTC+08:00)``, which no two regions can share and which shows daylight saving.
Every place that shows a local time to people formats it here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.calendar import CalendarPolicy, RegionHours, calendar_for
from domain.models import Region

DEFAULT_CLOCK = "%a %d %b %H:%M"
"""Weekday, date and minute: queue deadlines can be days away."""


def utc_offset(offset: timedelta | None) -> str:
    """`UTC+08:00`, `UTC-07:00`, `UTC+05:30`; `UTC+00:00` for zero or unknown."""
    minutes = round((offset or timedelta(0)).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def local_label(
    at: datetime,
    region: Region | str,
    policy: CalendarPolicy | RegionHours | None = None,
    *,
    clock: str = DEFAULT_CLOCK,
) -> str:
    """`at` on `region`'s wall clock under `policy`, e.g. `Fri 27 Nov 07:00 AMER (UTC-08:00)`.

    `clock` is a strftime pattern for the local date and time; it must not use
    `%Z` (the ambiguous abbreviation this label replaces). `at` must be
    timezone-aware (naive instants are rejected by the calendar).
    """
    if "%Z" in clock:
        raise ValueError("clock: %Z gives ambiguous zone abbreviations; the label adds the offset")
    region = Region(region)
    local = calendar_for(region, policy).to_local(at)
    return f"{local.strftime(clock)} {region.value} ({utc_offset(local.utcoffset())})"
