"""Regional business calendars and the 12-business-hour SLA arithmetic.

Why this module exists: the handbook promises "approved or rejected within
12 business hours of submission", and each regional Order Management team
keeps its own hours, time zone and public holidays. Off-the-shelf tools get
the corners wrong (holidays taken as UTC days, DST shifts of an hour, a
deadline that lands exactly on closing time pushed to the next morning), so
the arithmetic lives here, pure and exact, and the workflow only records its
answers.

Policy is data: `RegionHours` describes one region (time zone, opening
hours, holiday country and subdivision, company closures and extra working
days, cutoff, SLA length) and `CalendarPolicy` holds one per region. Both are
pydantic models, so they load from settings JSON or the environment like the
rest of the policy. The defaults:

======  ===================  ===========  ======================================
region  time zone            Mon-Fri      holidays
======  ===================  ===========  ======================================
AMER    America/Los_Angeles  07:00-17:00  holidays.country_holidays("US")
EMEA    Europe/London        08:00-17:00  holidays.country_holidays("GB", "ENG")
APAC    Asia/Manila          09:00-18:00  holidays.country_holidays("PH")
======  ===================  ===========  ======================================

EMEA and "GMT": the handbook writes "GMT", but the London team keeps London
wall-clock hours all year, so we use ``Europe/London``: 08:00-17:00 is
08:00-17:00 GMT in winter and 08:00-17:00 BST (07:00-16:00 UTC) in summer.
A literal fixed GMT offset would open the office at 09:00 local time for
seven months a year. To get the literal reading, set the EMEA ``time_zone``
to ``"Etc/GMT"``.

Holiday sets are exactly what the `holidays` package publishes for the
country and subdivision (including its "observed" days, e.g. US Independence
Day 2026 falls on a Saturday and is observed Friday 3 July; UK Boxing Day
2026 is observed Monday 28 December). EMEA uses subdivision ``ENG``
(England) because the London team takes England's bank holidays: plain
``"GB"`` holds only the days common to the whole UK and lacks Easter Monday
and the late Summer bank holiday (29 March and 30 August 2027).
``country_holidays("US")`` includes Columbus Day and Veterans Day, which many
US companies work; a team that works them lists them in
``extra_working_days`` (a day worked wins over every closure).

Company days carry names so that people can see why a day is closed or
open: ``extra_closures`` and ``extra_working_days`` take a mapping of date to
name (``{"2026-12-24": "Company day off"}``), a list of dates (the older
form, still accepted) or a list mixing dates and ``{"date", "name"}``
objects. `BusinessCalendar.year_overview` (and `calendar_year`) lists a
year's closed days and extra working days with their names and sources;
``om calendar show`` prints it.

The package only has rules up to a last year (2100 for US, GB and PH in
holidays 0.109) and would silently answer "no holidays" after it, so a
calendar refuses instants outside the years its holiday data covers instead
of guessing. Holiday data changes between package releases and the policy
between deployments (a settings change, a new default): a workflow records
the deadlines it computed, as local activity results, rather than
recomputing them on replay.

Arithmetic: every business day becomes one opening window, its local
opening and closing times converted to UTC with zoneinfo on that very date
(so DST is right on both transition weekends), stored as integer
microseconds since the Unix epoch together with the cumulative business time
before each window. A query is two binary searches (`bisect`) over those
arrays instead of a day-by-day loop; the arrays are built lazily, a few
years around the first instant asked about, and extended on demand. Integer
microseconds keep every answer exact: what comes back compares equal to the
true instant, with no minute rounding.

Conventions:

* Windows are half open: the opening instant is open, the closing instant is
  closed. ``add_business_hours`` that runs out exactly at closing time
  returns the closing instant (not the next opening).
* All inputs must be timezone-aware; naive datetimes raise ``ValueError``
  because guessing their zone is exactly the bug this module exists to avoid.
* Computed instants are returned in UTC (``next_open`` returns its argument
  itself when that is already open). Use ``cal.to_local`` to display them.
"""

from __future__ import annotations

import calendar as _stdcalendar
import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_serializer,
    field_validator,
    model_validator,
)

from domain.models import Region

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_REGION_HOURS",
    "BusinessCalendar",
    "CalendarDay",
    "CalendarPolicy",
    "CalendarYear",
    "DayKind",
    "NamedDate",
    "RegionHours",
    "calendar_year",
    "calendar_for",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_US_PER_HOUR = 3_600_000_000
_US_PER_DAY = 86_400_000_000
# Years we build windows for when there is no holiday data to bound them.
# One year of margin either side of datetime's own limits keeps local-midnight
# conversions from overflowing.
_MIN_YEAR = 2
_MAX_YEAR = 9997
# Ranges further apart than this are not merged (see `_cover`).
_MERGE_GAP_YEARS = 50
# A century of wall-clock time; no SLA arithmetic needs more.
_MAX_DELTA_US = 100 * 366 * _US_PER_DAY


# --------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------


class NamedDate(BaseModel):
    """A company closure or extra working day, with the name people see for it.

    Given as a plain date (``"2026-12-24"``, the form from before days had
    names; the name is then None) or as ``{"date": "2026-12-24", "name":
    "Company day off"}``. Frozen, so a policy holding it stays hashable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    name: str | None = Field(default=None, description="Why the day is closed or worked")

    @model_validator(mode="before")
    @classmethod
    def _plain_date(cls, value: Any) -> Any:
        if isinstance(value, date | str):
            return {"date": value}
        return value

    @field_validator("name")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        return value or None


class RegionHours(BaseModel):
    """One region's business calendar policy.

    Frozen and hashable (lists are stored as tuples) so that calendars can be
    cached per policy: a calendar is a few kilobytes of precomputed windows
    and is worth building once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_zone: str = Field(description="IANA time zone the team keeps its hours in")
    open: time = Field(description="Local opening time on a business day")
    close: time = Field(description="Local closing time on a business day (after `open`)")
    holiday_country: str | None = Field(
        default=None,
        description="ISO country code for `holidays.country_holidays`; None for no public holidays",
    )
    holiday_subdivision: str | None = Field(
        default=None,
        description="Optional subdivision of `holiday_country`, e.g. 'ENG' for England",
    )
    workdays: tuple[int, ...] = Field(
        default=(0, 1, 2, 3, 4), description="Working weekdays, Monday=0 ... Sunday=6"
    )
    extra_closures: tuple[NamedDate, ...] = Field(
        default=(),
        description="Company closures on top of public holidays: "
        '{"2026-12-24": "Company day off"}, or a list of dates',
    )
    extra_working_days: tuple[NamedDate, ...] = Field(
        default=(),
        description="Days worked even though they are weekends, public holidays or company "
        'closures: {"2027-10-11": "Columbus Day worked"}, or a list of dates',
    )
    cutoff: time = Field(
        default=time(16, 30),
        description="Submissions at or after this local time start the SLA clock next opening",
    )
    sla_business_hours: float = Field(default=12.0, gt=0, allow_inf_nan=False)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("open", "close", "cutoff")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(
                "opening, closing and cutoff times are local wall-clock times; "
                "give them without an offset (the region's time_zone applies)"
            )
        return value

    @field_validator("workdays")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("workdays are weekday numbers, Monday=0 ... Sunday=6")
        return tuple(sorted(set(value)))

    @field_validator("extra_closures", "extra_working_days", mode="before")
    @classmethod
    def _date_to_name_mapping(cls, value: Any) -> Any:
        # {"2026-12-24": "Company day off"} reads best in a settings file; the
        # entries themselves validate as NamedDate (a date or {date, name}).
        if isinstance(value, Mapping):
            return [{"date": d, "name": name} for d, name in value.items()]
        return value

    @field_validator("extra_closures", "extra_working_days")
    @classmethod
    def _one_entry_per_date(cls, value: tuple[NamedDate, ...]) -> tuple[NamedDate, ...]:
        # Sorted and without repeats so that equal policies hash equal (calendars
        # are cached per policy); a plain date next to the same date with a name
        # keeps the name, two different names for one date are a mistake.
        by_date: dict[date, NamedDate] = {}
        for entry in value:
            seen = by_date.get(entry.date)
            if seen is not None and seen.name and entry.name and seen.name != entry.name:
                raise ValueError(
                    f"{entry.date} is listed twice, as {seen.name!r} and {entry.name!r}"
                )
            if seen is None or not seen.name:
                by_date[entry.date] = entry
        return tuple(by_date[d] for d in sorted(by_date))

    @field_serializer("extra_closures", "extra_working_days")
    def _dates_as_given(self, value: tuple[NamedDate, ...]) -> tuple[date | dict[str, Any], ...]:
        # An unnamed day serializes as the plain date it was before days had
        # names: a policy without names dumps exactly as it did then.
        return tuple(d.date if d.name is None else {"date": d.date, "name": d.name} for d in value)

    @field_validator("holiday_subdivision")
    @classmethod
    def _subdivision_code(cls, value: str | None) -> str | None:
        return value.strip().upper() if value else None

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if value not in _holidays.list_supported_countries():
            raise ValueError(f"the holidays package has no calendar for country {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RegionHours:
        if self.close <= self.open:
            raise ValueError(
                f"close ({self.close}) must be after open ({self.open}) on the same day; "
                "overnight shifts are not supported"
            )
        if self.cutoff <= self.open:
            raise ValueError(f"cutoff ({self.cutoff}) must be after open ({self.open})")
        if not self.workdays and not self.extra_working_days:
            raise ValueError("a calendar needs at least one working weekday")
        if self.holiday_subdivision is not None:
            if self.holiday_country is None:
                raise ValueError("holiday_subdivision needs holiday_country")
            known = _holidays.list_supported_countries()[self.holiday_country]
            if self.holiday_subdivision not in known:
                raise ValueError(
                    f"holiday_subdivision {self.holiday_subdivision!r} is not a subdivision of "
                    f"{self.holiday_country} in the holidays package; choose from "
                    f"{', '.join(known) or 'none (this country has no subdivisions)'}"
                )
        return self

    @property
    def holiday_source(self) -> str | None:
        """Where the public holidays come from, as `holidays GB-ENG` (None: none)."""
        if self.holiday_country is None:
            return None
        if self.holiday_subdivision is None:
            return f"holidays {self.holiday_country}"
        return f"holidays {self.holiday_country}-{self.holiday_subdivision}"

    @property
    def sla(self) -> timedelta:
        """The SLA length as an exact timedelta (microsecond resolution)."""
        return timedelta(microseconds=round(self.sla_business_hours * _US_PER_HOUR))


DEFAULT_REGION_HOURS: dict[Region, RegionHours] = {
    Region.AMER: RegionHours(
        time_zone="America/Los_Angeles", open=time(7), close=time(17), holiday_country="US"
    ),
    Region.EMEA: RegionHours(
        time_zone="Europe/London",
        open=time(8),
        close=time(17),
        holiday_country="GB",
        holiday_subdivision="ENG",
    ),
    Region.APAC: RegionHours(
        time_zone="Asia/Manila", open=time(9), close=time(18), holiday_country="PH"
    ),
}


class CalendarPolicy(BaseModel):
    """Calendar policy for every region.

    Settings may give only what differs: a region's entry is merged over its
    default, field by field, and missing regions keep their defaults. So
    ``{"regions": {"EMEA": {"extra_closures": ["2026-12-24"]}}}`` only adds a
    closure to EMEA.
    """

    model_config = ConfigDict(frozen=True)

    regions: dict[Region, RegionHours] = Field(default_factory=lambda: dict(DEFAULT_REGION_HOURS))

    @model_validator(mode="before")
    @classmethod
    def _merge_over_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "regions" not in data:
            return data
        if not isinstance(data["regions"], Mapping | None):
            # Left to field validation, which names the field and the type it wants.
            return data
        # Region names in any case: `OM_CALENDAR__REGIONS__EMEA__...` arrives
        # as the key "emea" (environment names are case-insensitive), next to a
        # settings file's "EMEA". pydantic-settings puts the environment's keys
        # after the file's, so merging in order lets the environment win field
        # by field, as it does everywhere else.
        given: dict[str, Any] = {}
        for key, value in (data["regions"] or {}).items():
            name = str(key.value if isinstance(key, Region) else key).upper()
            seen = given.get(name)
            if isinstance(seen, Mapping) and isinstance(value, Mapping):
                value = {**seen, **value}
            given[name] = value
        merged: dict[Region, Any] = {}
        for region in Region:
            base = DEFAULT_REGION_HOURS[region].model_dump()
            override = given.get(region.value)
            if override is None:
                merged[region] = base
            elif isinstance(override, RegionHours):
                merged[region] = override
            elif isinstance(override, Mapping):
                merged[region] = {**base, **override}
            else:
                merged[region] = override  # not an object: field validation names it
        unknown = {str(k) for k in given} - {r.value for r in Region}
        if unknown:
            raise ValueError(f"unknown regions in calendar policy: {sorted(unknown)}")
        return {**data, "regions": merged}

    def hours_for(self, region: Region | str) -> RegionHours:
        """The policy of one region."""
        return self.regions[Region(region)]


DEFAULT_POLICY = CalendarPolicy()


# --------------------------------------------------------------------------
# A year at a glance: which days are closed or worked, and why
# --------------------------------------------------------------------------

_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_NAME = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DayKind(StrEnum):
    """Why a date is closed, or that it is worked against the usual rules."""

    PUBLIC_HOLIDAY = "public_holiday"
    COMPANY_CLOSURE = "company_closure"
    WEEKEND = "weekend"
    EXTRA_WORKING_DAY = "extra_working_day"


class CalendarDay(BaseModel):
    """One reason a date is closed, or one extra working day, as people read it."""

    model_config = ConfigDict(frozen=True)

    date: date
    name: str = Field(description="The holiday's or the company's name for the day")
    kind: DayKind
    source: str = Field(
        description="Where the day comes from: `holidays GB-ENG` (the holidays package, "
        "country and subdivision), `settings extra_closures`, `settings workdays` or "
        "`settings extra_working_days`"
    )
    instead_of: str | None = Field(
        default=None,
        description="For an extra working day: the closures it overrides, e.g. "
        "`public holiday: Columbus Day` (None: the day was a working day anyway)",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def weekday(self) -> str:
        """`Mon` ... `Sun` (English, whatever the machine's locale)."""
        return _WEEKDAY_ABBR[self.date.weekday()]


class CalendarYear(BaseModel):
    """A region's calendar for one year: its closed days and extra working days."""

    model_config = ConfigDict(frozen=True)

    region: str
    year: int
    time_zone: str
    open: time
    close: time
    workdays: tuple[str, ...] = Field(description="Working weekdays, `Mon` ... `Sun`")
    weekend: tuple[str, ...] = Field(description="The other weekdays: closed every week")
    holidays: str | None = Field(description="Public holidays from, e.g. `holidays GB-ENG`")
    weekends_listed: bool = Field(
        description="False: `closed` holds only closures of working weekdays, and weekend "
        "dates (holidays falling on one included) are left out"
    )
    closed: tuple[CalendarDay, ...] = Field(
        description="Closed dates, one entry per reason (a company closure on a public "
        "holiday is listed twice)"
    )
    worked: tuple[CalendarDay, ...] = Field(description="Extra working days of the year")


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------


def _naive_error(value: Any, name: str) -> Exception:
    if not isinstance(value, datetime):
        return TypeError(f"{name} must be a timezone-aware datetime, got {type(value).__name__}")
    return ValueError(
        f"{name}={value.isoformat()} is a naive datetime; business-calendar arithmetic "
        "needs a timezone-aware instant (e.g. datetime.now(UTC) or tzinfo=ZoneInfo(...))"
    )


def _to_us(value: datetime, name: str = "at") -> int:
    """Exact microseconds since the Unix epoch of an aware datetime."""
    try:
        return (value - _EPOCH) // _ONE_US
    except TypeError:  # naive (or not a datetime at all)
        raise _naive_error(value, name) from None


# Callers use a handful of distinct deltas (the SLA, its 50% and 75% marks):
# a dict lookup (timedelta caches its hash) beats the conversion arithmetic.
_DELTA_US: dict[timedelta, int] = {}


def _remember_delta(delta: timedelta) -> int:
    us = delta // _ONE_US
    if len(_DELTA_US) >= 4096:
        _DELTA_US.clear()
    _DELTA_US[delta] = us
    return us


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(0, 0, us)


def _delta_to_us(delta: timedelta | float) -> int:
    """Business time as exact microseconds; floats and ints are hours."""
    if isinstance(delta, timedelta):
        return delta // _ONE_US
    if isinstance(delta, bool) or not isinstance(delta, int | float):
        raise TypeError(f"delta must be a timedelta or a number of hours, got {delta!r}")
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta!r}")
    return round(delta * _US_PER_HOUR)


class _Windows:
    """Immutable snapshot of precomputed opening windows for [first_year, last_year].

    Replaced as a whole when the range grows, so a reader on another thread
    never sees arrays from two different builds.
    """

    __slots__ = (
        "first_year",
        "last_year",
        "lo",
        "hi",
        "starts",
        "ends",
        "lens",
        "cutoffs",
        "cum",
        "cumend",
        "total",
    )

    def __init__(
        self,
        first_year: int,
        last_year: int,
        lo: int,
        hi: int,
        starts: list[int],
        ends: list[int],
        cutoffs: list[int],
    ) -> None:
        self.first_year = first_year
        self.last_year = last_year
        self.lo = lo  # local midnight 1 Jan first_year, UTC µs
        self.hi = hi  # local midnight 1 Jan last_year + 1, UTC µs
        self.starts = starts
        self.ends = ends
        self.cutoffs = cutoffs
        self.lens = [e - s for s, e in zip(starts, ends, strict=True)]
        cum = [0] * len(starts)
        running = 0
        for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
            cum[k] = running
            running += e - s
        self.cum = cum  # business µs before window k
        self.cumend = cum[1:] + [running]  # business µs up to the end of window k
        self.total = running

    @property
    def empty(self) -> bool:
        """The placeholder before anything is built (covers no instant)."""
        return self.last_year < self.first_year


# --------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------


class BusinessCalendar:
    """One region's business calendar: opening windows, holidays, SLA rules.

    Thread safe: queries read an immutable snapshot of the windows; growing the
    range takes a lock and swaps the snapshot in one assignment.
    """

    def __init__(self, hours: RegionHours, name: str = "") -> None:
        self.hours = hours
        self.name = name
        self.tz = ZoneInfo(hours.time_zone)
        self._sla_us = hours.sla // _ONE_US
        self._closures = {d.date: d.name for d in hours.extra_closures}
        self._extra_days = {d.date: d.name for d in hours.extra_working_days}
        self._workdays = frozenset(hours.workdays)
        # Only answer inside the years the holiday data covers (holidays 0.109:
        # up to 2100): past them the package silently returns no holidays.
        self.min_year, self.max_year = _MIN_YEAR, _MAX_YEAR
        if hours.holiday_country is not None:
            known = _holidays.country_holidays(
                hours.holiday_country, subdiv=hours.holiday_subdivision
            )
            self.min_year = max(self.min_year, known.start_year)
            self.max_year = min(self.max_year, known.end_year)
        self._holiday_years: dict[int, frozenset[date]] = {}
        self._holiday_names: dict[int, dict[date, str]] = {}
        self._year_windows: dict[int, tuple[list[int], list[int], list[int]]] = {}
        self._lock = threading.RLock()
        # An empty snapshot covering nothing, so the hot paths need no None check.
        self._w: _Windows = _Windows(0, -1, 0, 0, [], [], [])

    def __repr__(self) -> str:
        h = self.hours
        return (
            f"BusinessCalendar({self.name or h.time_zone}: {h.open:%H:%M}-{h.close:%H:%M} "
            f"{h.time_zone}, holidays={h.holiday_country})"
        )

    # ---- public helpers -------------------------------------------------

    @property
    def sla(self) -> timedelta:
        """The SLA length in business time."""
        return self.hours.sla

    def to_local(self, at: datetime) -> datetime:
        """`at` in the region's wall-clock time, for display."""
        _to_us(at)
        return at.astimezone(self.tz)

    def holidays_in(self, year: int) -> frozenset[date]:
        """Public holidays (including observed days) on dates in `year`."""
        cached = self._holiday_years.get(year)
        if cached is not None:
            return cached
        if not self.min_year <= year <= self.max_year + 1:  # +1: margin for observed days
            raise ValueError(
                f"no holiday data for {year} (this calendar knows "
                f"{self.min_year}-{self.max_year}{self._data_note()})"
            )
        h = self.hours
        names: dict[date, str] = {}
        if h.holiday_country is not None:
            # Observed days can cross a year boundary (1 Jan on a Saturday is
            # observed on 31 Dec); ask for the neighbours and keep this year.
            with self._lock:
                found = _holidays.country_holidays(
                    h.holiday_country, subdiv=h.holiday_subdivision, years=range(year - 1, year + 2)
                )
                names = {d: found[d] for d in sorted(found) if d.year == year}
        # Names first: a reader who finds the year's set also finds its names.
        self._holiday_names[year] = names
        result = frozenset(names)
        self._holiday_years[year] = result
        return result

    def holiday_name(self, d: date) -> str | None:
        """The public holiday's name on local date `d` (None: not a public holiday).

        Several holidays on one date come joined with "; " as the `holidays`
        package gives them.
        """
        self.holidays_in(d.year)
        return self._holiday_names[d.year].get(d)

    def is_business_day(self, d: date) -> bool:
        """Whether the team works on local date `d` (a datetime is taken as its date)."""
        if isinstance(d, datetime):
            d = d.date()
        if d in self._extra_days:
            return True
        if d.weekday() not in self._workdays or d in self._closures:
            return False
        return d not in self.holidays_in(d.year)

    def is_open(self, at: datetime) -> bool:
        """Whether the team is working at instant `at` (opening instant open,
        closing instant closed)."""
        s = _to_us(at)
        w = self._w
        if not (w.lo <= s < w.hi):
            w = self._cover(s)
        i = bisect_right(w.starts, s) - 1
        return i >= 0 and s < w.ends[i]

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, otherwise the next opening instant (UTC)."""
        s = _to_us(at)
        w = self._w
        if not (w.lo <= s < w.hi):
            w = self._cover(s)
        i = bisect_right(w.starts, s)
        if i > 0 and s < w.ends[i - 1]:
            return at
        while i >= len(w.starts):
            w = self._grow_forward(w)
        return _from_us(w.starts[i])

    def next_close(self, at: datetime) -> datetime:
        """The end of the window `at` is in, or of the next window if closed (UTC)."""
        s = _to_us(at)
        w = self._w
        if not (w.lo <= s < w.hi):
            w = self._cover(s)
        i = bisect_right(w.starts, s) - 1
        if i < 0 or s >= w.ends[i]:
            i += 1
        while i >= len(w.starts):
            w = self._grow_forward(w)
        return _from_us(w.ends[i])

    def add_business_hours(self, start: datetime, delta: timedelta | float) -> datetime:
        """The instant `delta` of business time after `start` (UTC).

        Counting starts at `start`, or at the next opening when `start` is
        closed; there is no cutoff rule here (see `sla_deadline`). `delta` is a
        timedelta or a number of hours (float allowed, exact to the
        microsecond). Running out exactly at closing time gives the closing
        instant. A zero delta gives `next_open(start)`. A negative delta counts
        backwards and lands on an opening instant rather than the previous
        closing when it runs out on a boundary.
        """
        try:  # inlined _to_us: this is the hot path
            s = (start - _EPOCH) // _ONE_US
        except TypeError:
            raise _naive_error(start, "start") from None
        if type(delta) is timedelta:
            d = _DELTA_US.get(delta)
            if d is None:
                d = _remember_delta(delta)
        elif type(delta) is float and -1e12 < delta < 1e12:  # finite (NaN fails too)
            d = round(delta * _US_PER_HOUR)
        else:
            d = _delta_to_us(delta)
        w = self._w
        if not (w.lo <= s < w.hi):
            w = self._cover(s)
        starts = w.starts
        i = bisect_right(starts, s) - 1
        if i < 0:
            i = 0
            b = 0
        else:
            off = s - starts[i]
            length = w.lens[i]
            b = w.cum[i] + (off if off < length else length)
        if d > 0:
            target = b + d
            if target > w.total:
                return self._add_slow(s, d)
            j = bisect_left(w.cumend, target, i)
            return _EPOCH + timedelta(0, 0, starts[j] + target - w.cum[j])
        if d == 0:
            return self.next_open(start)
        return self._add_slow(s, d)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time inside [start, end]; negative when `end` is before `start`."""
        s = _to_us(start, "start")
        e = _to_us(end, "end")
        w = self._w
        if not (w.lo <= s < w.hi and w.lo <= e < w.hi):
            w = self._cover(s, e)
        return timedelta(0, 0, _position(w, e) - _position(w, s))

    def clock_start(self, submitted_at: datetime) -> datetime:
        """When the SLA clock starts for a submission (the cutoff rule alone).

        Inside hours and before the cutoff: the submission instant itself.
        At or after the cutoff on a business day, or outside hours: the next
        opening (UTC).
        """
        return _from_us(self._clock_start_us(_to_us(submitted_at, "submitted_at"))[1])

    def sla_deadline(self, submitted_at: datetime) -> datetime:
        """The SLA deadline: cutoff rule, then the SLA length in business time (UTC)."""
        w, start = self._clock_start_us(_to_us(submitted_at, "submitted_at"))
        target = _position(w, start) + self._sla_us
        if target > w.total:
            return self._add_slow(start, self._sla_us)
        j = bisect_left(w.cumend, target)
        return _from_us(w.starts[j] + target - w.cum[j])

    def last_business_days_of_period(
        self,
        at: datetime | date,
        n: int = 2,
        period: Literal["month", "quarter"] = "month",
    ) -> bool:
        """Whether `at` falls in the last `n` business days of its month (or quarter).

        This is the end-of-month/quarter cover window: from local midnight of
        the n-th last business day through the end of the period, in the
        region's wall-clock time (a weekend inside that stretch counts as
        inside it). Every quarter ends with a month, so the month answer
        already covers quarter ends; ``period="quarter"`` is only True in the
        last month of a quarter.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if period not in ("month", "quarter"):
            raise ValueError(f"period must be 'month' or 'quarter', got {period!r}")
        if isinstance(at, datetime):
            _to_us(at)
            local = at.astimezone(self.tz).date()
        else:
            local = at
        if period == "quarter" and local.month % 3 != 0:
            return False
        d = date(local.year, local.month, _stdcalendar.monthrange(local.year, local.month)[1])
        found = 0
        while d.month == local.month:
            if self.is_business_day(d):
                found += 1
                if found == n:
                    break
            d -= timedelta(days=1)
        # With fewer than n business days in the month, d has left the month
        # and the whole month counts as "last".
        return local >= d

    def business_days(self, first: date, last: date) -> Iterable[date]:
        """Business days from `first` to `last` inclusive, for reports and tests."""
        d = first
        while d <= last:
            if self.is_business_day(d):
                yield d
            d += timedelta(days=1)

    def day_reasons(self, d: date) -> tuple[CalendarDay, ...]:
        """Why local date `d` is closed (one entry per reason, public holiday,
        company closure, then weekend), or the extra working day it is.

        Empty for an ordinary working day. An extra working day wins over
        everything else, so it is the single entry then, naming in
        `instead_of` what it overrides. Raises ValueError for a year the
        holiday data does not cover.
        """
        reasons: list[CalendarDay] = []
        holiday = self.holiday_name(d)
        source = self.hours.holiday_source
        if holiday is not None and source is not None:
            reasons.append(
                CalendarDay(date=d, name=holiday, kind=DayKind.PUBLIC_HOLIDAY, source=source)
            )
        if d in self._closures:
            reasons.append(
                CalendarDay(
                    date=d,
                    name=self._closures[d] or "Company closure",
                    kind=DayKind.COMPANY_CLOSURE,
                    source="settings extra_closures",
                )
            )
        if d.weekday() not in self._workdays:
            reasons.append(
                CalendarDay(
                    date=d,
                    name=_WEEKDAY_NAME[d.weekday()],
                    kind=DayKind.WEEKEND,
                    source="settings workdays",
                )
            )
        if d not in self._extra_days:
            return tuple(reasons)
        overridden = "; ".join(f"{r.kind.value.replace('_', ' ')}: {r.name}" for r in reasons)
        return (
            CalendarDay(
                date=d,
                name=self._extra_days[d] or "Extra working day",
                kind=DayKind.EXTRA_WORKING_DAY,
                source="settings extra_working_days",
                instead_of=overridden or None,
            ),
        )

    def year_overview(self, year: int, weekends: bool = False) -> CalendarYear:
        """The closed days and extra working days of local `year`, with names
        and sources, for people (`om calendar show`) rather than arithmetic.

        With `weekends` False, `closed` lists only working weekdays that are
        closed (the days a person might otherwise expect the team to work);
        with True it lists every closed date, weekends and holidays falling on
        them included. Raises ValueError naming the years the calendar knows
        when `year` is outside them.
        """
        if not isinstance(year, int) or not self.min_year <= year <= self.max_year:
            raise ValueError(
                f"no calendar for year {year} (this calendar knows "
                f"{self.min_year}-{self.max_year}{self._data_note()})"
            )
        closed: list[CalendarDay] = []
        worked: list[CalendarDay] = []
        d, one = date(year, 1, 1), timedelta(days=1)
        while d.year == year:
            for day in self.day_reasons(d):
                if day.kind is DayKind.EXTRA_WORKING_DAY:
                    worked.append(day)
                elif weekends or d.weekday() in self._workdays:
                    closed.append(day)
            d += one
        h = self.hours
        return CalendarYear(
            region=self.name,
            year=year,
            time_zone=h.time_zone,
            open=h.open,
            close=h.close,
            workdays=tuple(_WEEKDAY_ABBR[i] for i in h.workdays),
            weekend=tuple(_WEEKDAY_ABBR[i] for i in range(7) if i not in self._workdays),
            holidays=h.holiday_source,
            weekends_listed=weekends,
            closed=tuple(closed),
            worked=tuple(worked),
        )

    # ---- internals -------------------------------------------------------

    def _clock_start_us(self, s: int) -> tuple[_Windows, int]:
        """(snapshot covering the answer, clock start in µs) for a submission at `s`."""
        w = self._w
        if not (w.lo <= s < w.hi):
            w = self._cover(s)
        i = bisect_right(w.starts, s) - 1
        if i >= 0 and s < w.cutoffs[i] and s < w.ends[i]:
            return w, s
        while i + 1 >= len(w.starts):
            w = self._grow_forward(w)
        return w, w.starts[i + 1]

    def _add_slow(self, s: int, d: int) -> datetime:
        """add_business_hours when the answer lies outside the built range."""
        if abs(d) > _MAX_DELTA_US:
            raise ValueError(
                "delta is larger than a business calendar handles "
                f"({_MAX_DELTA_US // _US_PER_HOUR} hours)"
            )
        w = self._cover(s)
        if d > 0:
            while True:
                target = _position(w, s) + d
                if target <= w.total:
                    break
                years = w.last_year - w.first_year + 1
                per_year = max(w.total // years, 1)
                extra = max(1, math.ceil((target - w.total) / per_year) + 1)
                w = self._grown(w, w.first_year, w.last_year + extra)
            j = bisect_left(w.cumend, target)
            return _from_us(w.starts[j] + target - w.cum[j])
        while True:
            target = _position(w, s) + d
            if target >= 0:
                break
            years = w.last_year - w.first_year + 1
            per_year = max(w.total // years, 1)
            extra = max(1, math.ceil(-target / per_year) + 1)
            w = self._grown(w, w.first_year - extra, w.last_year)
        j = bisect_right(w.cum, target) - 1
        return _from_us(w.starts[j] + target - w.cum[j])

    def _year_of(self, us: int) -> int:
        """The local year of instant `us`, refusing years we have no data for."""
        rough = 1970 + us // (_US_PER_DAY * 365)
        if _MIN_YEAR < rough < _MAX_YEAR:  # safe to make a datetime of it
            at = _from_us(us).astimezone(self.tz)
            if self.min_year <= at.year <= self.max_year:
                return at.year
            shown = at.isoformat()
        else:
            shown = "instant"
        raise ValueError(
            f"{shown} is outside the years this business calendar knows "
            f"({self.min_year}-{self.max_year}{self._data_note()})"
        )

    def _data_note(self) -> str:
        country = self.hours.holiday_country
        return f", the holiday data for {country}" if country else ""

    def _cover(self, *instants: int) -> _Windows:
        """A snapshot whose range covers every instant given, with a year of margin."""
        w = self._w
        if all(w.lo <= s < w.hi for s in instants):
            return w
        years = [self._year_of(s) for s in instants]
        first, last = min(years) - 1, max(years) + 1
        far = first > w.last_year + _MERGE_GAP_YEARS or last < w.first_year - _MERGE_GAP_YEARS
        if w.empty or far:
            # Nothing built yet, or far away (a `datetime.max`-style sentinel):
            # start a fresh range there rather than filling centuries between.
            return self._build_range(first, last + 1, merge=False)
        return self._build_range(first, last)

    def _grow_forward(self, w: _Windows) -> _Windows:
        return self._grown(w, w.first_year, w.last_year + 2)

    def _build_range(self, first: int, last: int, merge: bool = True) -> _Windows:
        """Build (or widen) the snapshot to cover local years first..last."""
        first, last = max(first, self.min_year), min(last, self.max_year)
        with self._lock:
            w = self._w
            if not w.empty and w.first_year <= first and w.last_year >= last:
                return w
            if merge and not w.empty:
                first, last = min(first, w.first_year), max(last, w.last_year)
            starts: list[int] = []
            ends: list[int] = []
            cutoffs: list[int] = []
            for year in range(first, last + 1):
                ys, ye, yc = self._windows_of_year(year)
                starts += ys
                ends += ye
                cutoffs += yc
            lo = _to_us(datetime(first, 1, 1, tzinfo=self.tz))
            hi = _to_us(datetime(last + 1, 1, 1, tzinfo=self.tz))
            w = _Windows(first, last, lo, hi, starts, ends, cutoffs)
            self._w = w
            return w

    def _grown(self, w: _Windows, first: int, last: int) -> _Windows:
        """Grow the range, refusing to loop forever at the supported limits."""
        grown = self._build_range(first, last)
        if grown.first_year == w.first_year and grown.last_year == w.last_year:
            raise ValueError(
                "business-calendar arithmetic ran past the years this calendar "
                f"knows ({self.min_year}-{self.max_year}{self._data_note()})"
            )
        return grown

    def _windows_of_year(self, year: int) -> tuple[list[int], list[int], list[int]]:
        cached = self._year_windows.get(year)
        if cached is not None:
            return cached
        h, tz = self.hours, self.tz
        starts: list[int] = []
        ends: list[int] = []
        cutoffs: list[int] = []
        d = date(year, 1, 1)
        one = timedelta(days=1)
        while d.year == year:
            if self.is_business_day(d):
                # Each day's wall-clock times converted on that date: DST-exact.
                o = _to_us(datetime.combine(d, h.open, tzinfo=tz))
                c = _to_us(datetime.combine(d, h.close, tzinfo=tz))
                cut = _to_us(datetime.combine(d, h.cutoff, tzinfo=tz))
                starts.append(o)
                ends.append(c)
                cutoffs.append(min(cut, c))
            d += one
        result = (starts, ends, cutoffs)
        self._year_windows[year] = result
        return result


def _position(w: _Windows, s: int) -> int:
    """Business µs from the start of the built range up to instant `s`."""
    starts = w.starts
    i = bisect_right(starts, s) - 1
    if i < 0:
        return 0
    off = s - starts[i]
    length = w.lens[i]
    return w.cum[i] + (off if off < length else length)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _cached_calendar(region: Region, hours: RegionHours) -> BusinessCalendar:
    return BusinessCalendar(hours, name=region.value)


def calendar_for(
    region: Region | str,
    policy: CalendarPolicy | RegionHours | None = None,
) -> BusinessCalendar:
    """The business calendar of `region` under `policy` (default policy when None).

    Calendars are cached per (region, policy), so their precomputed windows
    are built once per process however often this is called.
    """
    region = Region(region)
    if policy is None:
        hours = DEFAULT_REGION_HOURS[region]
    elif isinstance(policy, RegionHours):
        hours = policy
    elif isinstance(policy, CalendarPolicy):
        hours = policy.hours_for(region)
    else:
        raise TypeError(f"policy must be a CalendarPolicy or RegionHours, got {policy!r}")
    return _cached_calendar(region, hours)


def calendar_year(
    region: Region | str,
    year: int,
    policy: CalendarPolicy | None = None,
    weekends: bool = False,
) -> CalendarYear:
    """The closed days and extra working days of `region` in `year` under
    `policy` (the default policy when None); see `BusinessCalendar.year_overview`.

    Pure: the holiday data is the installed `holidays` package, nothing is
    fetched. Raises ValueError for an unknown region or a year outside the
    holiday data.
    """
    return calendar_for(region, policy).year_overview(year, weekends=weekends)
