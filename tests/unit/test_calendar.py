"""Business calendars and SLA arithmetic (domain/calendar.py).

Why these tests: the 12-business-hour promise is only as good as the corner
cases — DST weekends, observed holidays, the cutoff minute, deadlines landing
exactly on closing time. Fixed cases pin the answers a person would compute
by hand; property tests check the algebra (add then measure, monotonicity)
and compare the bisection implementation against a deliberately naive
day-by-day reference built straight from zoneinfo and the holidays package.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import (
    DEFAULT_REGION_HOURS,
    BusinessCalendar,
    CalendarPolicy,
    RegionHours,
    calendar_for,
)
from domain.models import Region

LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
MANILA = ZoneInfo("Asia/Manila")
TOKYO = ZoneInfo("Asia/Tokyo")

AMER = calendar_for(Region.AMER)
EMEA = calendar_for(Region.EMEA)
APAC = calendar_for(Region.APAC)
CALENDARS = {Region.AMER: AMER, Region.EMEA: EMEA, Region.APAC: APAC}

US = timedelta(microseconds=1)
H = timedelta(hours=1)

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def manila(*args: int) -> datetime:
    return datetime(*args, tzinfo=MANILA)


# --------------------------------------------------------------------------
# A naive reference: day by day, straight from zoneinfo and holidays.
# --------------------------------------------------------------------------


def ref_windows(region: Region, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
    """Opening windows of the default policy, computed the slow obvious way."""
    hours = DEFAULT_REGION_HOURS[region]
    tz = ZoneInfo(hours.time_zone)
    hol = holidays.country_holidays(
        hours.holiday_country,
        subdiv=hours.holiday_subdivision,
        years=range(first.year - 1, last.year + 2),
    )
    d = first
    while d <= last:
        if d.weekday() < 5 and d not in hol:
            yield (
                datetime.combine(d, hours.open, tzinfo=tz),
                datetime.combine(d, hours.close, tzinfo=tz),
            )
        d += timedelta(days=1)


def ref_between(region: Region, start: datetime, end: datetime) -> timedelta:
    first = start.astimezone(UTC).date() - timedelta(days=2)
    last = end.astimezone(UTC).date() + timedelta(days=2)
    total = timedelta()
    for o, c in ref_windows(region, first, last):
        lo, hi = max(o, start), min(c, end)
        if hi > lo:
            total += hi - lo
    return total


def ref_add(region: Region, start: datetime, delta: timedelta) -> datetime:
    first = start.astimezone(UTC).date() - timedelta(days=2)
    for o, c in ref_windows(region, first, first + timedelta(days=400)):
        if c <= start:
            continue
        begin = max(o, start)
        if delta <= c - begin:
            return (begin + delta).astimezone(UTC)
        delta -= c - begin
    raise AssertionError("reference ran out of days")


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------

_LO = utc(2025, 1, 1)
_SPAN_US = (utc(2028, 12, 31) - _LO) // US
ZONES = [UTC, LA, LONDON, MANILA, TOKYO]

regions = st.sampled_from(list(Region))


@st.composite
def instants(draw: st.DrawFn, region: Region | None = None) -> datetime:
    """Any instant 2025-2028, biased towards the edges that matter:
    opening, closing and cutoff times (and a microsecond either side)."""
    zone = draw(st.sampled_from(ZONES))
    if region is None or draw(st.booleans()):
        at = _LO + draw(st.integers(0, _SPAN_US)) * US
    else:
        hours = DEFAULT_REGION_HOURS[region]
        day = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 4 * 365)))
        wall = draw(st.sampled_from([hours.open, hours.close, hours.cutoff, time(0)]))
        nudge = draw(st.sampled_from([0, 0, 1, -1, 1_000_000, -1_000_000]))
        at = datetime.combine(day, wall, tzinfo=ZoneInfo(hours.time_zone)) + nudge * US
    return at.astimezone(zone)


business_deltas = st.one_of(
    st.integers(1, 60).map(lambda h: h * H),
    st.integers(1, 60 * 3600 * 10**6).map(lambda us: us * US),
)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), region=regions, delta=business_deltas)
def test_add_then_measure_gives_back_the_same_business_time(
    data: st.DataObject, region: Region, delta: timedelta
) -> None:
    cal = CALENDARS[region]
    start = data.draw(instants(region))
    end = cal.add_business_hours(start, delta)
    assert cal.business_time_between(start, end) == delta


@PROPERTY
@given(data=st.data(), region=regions, delta=business_deltas)
def test_add_agrees_with_day_by_day_reference(
    data: st.DataObject, region: Region, delta: timedelta
) -> None:
    start = data.draw(instants(region))
    assert CALENDARS[region].add_business_hours(start, delta) == ref_add(region, start, delta)


@PROPERTY
@given(data=st.data(), region=regions)
def test_between_agrees_with_day_by_day_reference(data: st.DataObject, region: Region) -> None:
    start = data.draw(instants(region))
    end = start + data.draw(st.integers(0, 20 * 86400 * 10**6)) * US
    cal = CALENDARS[region]
    assert cal.business_time_between(start, end) == ref_between(region, start, end)
    assert cal.business_time_between(end, start) == -ref_between(region, start, end)


@PROPERTY
@given(data=st.data(), region=regions)
def test_between_is_additive(data: st.DataObject, region: Region) -> None:
    a, b, c = sorted(data.draw(instants(region)) for _ in range(3))
    cal = CALENDARS[region]
    assert cal.business_time_between(a, b) + cal.business_time_between(
        b, c
    ) == cal.business_time_between(a, c)


@PROPERTY
@given(data=st.data(), region=regions)
def test_deadlines_are_open_instants_or_closing_instants(
    data: st.DataObject, region: Region
) -> None:
    cal = CALENDARS[region]
    deadline = cal.sla_deadline(data.draw(instants(region)))
    closing_instant = cal.is_open(deadline - US) and not cal.is_open(deadline)
    assert cal.is_open(deadline) or closing_instant


@PROPERTY
@given(data=st.data(), region=regions)
def test_sla_deadline_is_monotonic_in_submission_time(data: st.DataObject, region: Region) -> None:
    cal = CALENDARS[region]
    first, second = sorted([data.draw(instants(region)), data.draw(instants(region))])
    assert cal.sla_deadline(first) <= cal.sla_deadline(second)
    assert cal.clock_start(first) <= cal.clock_start(second)


@PROPERTY
@given(data=st.data(), region=regions)
def test_sla_deadline_is_twelve_business_hours_after_clock_start(
    data: st.DataObject, region: Region
) -> None:
    cal = CALENDARS[region]
    submitted = data.draw(instants(region))
    start = cal.clock_start(submitted)
    assert start >= submitted
    assert cal.is_open(start)
    assert cal.business_time_between(start, cal.sla_deadline(submitted)) == 12 * H


@PROPERTY
@given(data=st.data(), region=regions)
def test_next_open_is_idempotent_and_open(data: st.DataObject, region: Region) -> None:
    cal = CALENDARS[region]
    at = data.draw(instants(region))
    opening = cal.next_open(at)
    assert cal.is_open(opening)
    assert opening >= at
    assert cal.next_open(opening) == opening
    assert cal.business_time_between(at, opening) == timedelta()


@PROPERTY
@given(data=st.data(), region=regions, delta=business_deltas)
def test_negative_add_undoes_positive_add(
    data: st.DataObject, region: Region, delta: timedelta
) -> None:
    cal = CALENDARS[region]
    start = cal.next_open(data.draw(instants(region)))
    there = cal.add_business_hours(start, delta)
    back = cal.add_business_hours(there, -delta)
    assert cal.business_time_between(back, there) == delta
    assert back == start or cal.business_time_between(back, start) == timedelta()


@PROPERTY
@given(data=st.data(), region=regions, zone=st.sampled_from(ZONES))
def test_answers_do_not_depend_on_the_input_time_zone(
    data: st.DataObject, region: Region, zone: ZoneInfo
) -> None:
    cal = CALENDARS[region]
    at = data.draw(instants(region))
    same = at.astimezone(zone)
    assert cal.sla_deadline(at) == cal.sla_deadline(same)
    assert cal.is_open(at) == cal.is_open(same)


# --------------------------------------------------------------------------
# DST transitions
# --------------------------------------------------------------------------


def test_amer_spring_forward_friday_submission_deadline() -> None:
    # Fri 6 Mar 2026 10:00 PST: 7 h Friday, clocks go forward Sun 8 Mar,
    # 5 h Monday from 07:00 PDT -> 12:00 PDT = 19:00 UTC (not 20:00).
    assert AMER.sla_deadline(la(2026, 3, 6, 10)) == utc(2026, 3, 9, 19)


def test_amer_fall_back_friday_submission_deadline() -> None:
    # Fri 30 Oct 2026 10:00 PDT; clocks go back Sun 1 Nov; Mon 12:00 PST = 20:00 UTC.
    assert AMER.sla_deadline(la(2026, 10, 30, 10)) == utc(2026, 11, 2, 20)


def test_emea_spring_forward_friday_submission_deadline() -> None:
    # Fri 27 Mar 2026 10:00 GMT; BST from Sun 29 Mar; Mon 13:00 BST = 12:00 UTC.
    assert EMEA.sla_deadline(london(2026, 3, 27, 10)) == utc(2026, 3, 30, 12)


def test_emea_fall_back_friday_submission_deadline() -> None:
    # Fri 23 Oct 2026 10:00 BST; GMT from Sun 25 Oct; Mon 13:00 GMT = 13:00 UTC.
    assert EMEA.sla_deadline(london(2026, 10, 23, 10)) == utc(2026, 10, 26, 13)


def test_opening_follows_local_clock_across_dst() -> None:
    assert AMER.next_open(utc(2026, 3, 7)) == utc(2026, 3, 7)  # Fri 16:00 PST, still open
    assert AMER.next_open(utc(2026, 3, 7, 1)) == utc(2026, 3, 9, 14)  # Mon 07:00 PDT
    assert not AMER.is_open(utc(2026, 3, 9, 13, 59, 59))
    assert AMER.is_open(utc(2026, 3, 9, 14))
    assert AMER.next_open(utc(2026, 10, 31)) == utc(2026, 11, 2, 15)  # Mon 07:00 PST
    assert EMEA.next_open(utc(2026, 3, 28)) == utc(2026, 3, 30, 7)  # Mon 08:00 BST
    assert EMEA.next_open(utc(2026, 10, 24)) == utc(2026, 10, 26, 8)  # Mon 08:00 GMT
    assert EMEA.next_close(utc(2026, 6, 1, 9)) == utc(2026, 6, 1, 16)  # 17:00 BST


def test_business_time_over_dst_weekend_counts_wall_clock_hours() -> None:
    assert AMER.business_time_between(la(2026, 3, 6, 7), la(2026, 3, 9, 17)) == 20 * H
    assert EMEA.business_time_between(london(2026, 10, 23, 8), london(2026, 10, 26, 17)) == 18 * H


# --------------------------------------------------------------------------
# Holidays
# --------------------------------------------------------------------------


def test_us_independence_day_observed_on_friday_july_3_2026() -> None:
    assert not AMER.is_business_day(date(2026, 7, 3))
    assert not AMER.is_open(la(2026, 7, 3, 10))
    # Thu 2 Jul 10:00: 7 h Thursday, Friday observed holiday, weekend, 5 h Monday.
    assert AMER.sla_deadline(la(2026, 7, 2, 10)) == la(2026, 7, 6, 12)


def test_uk_boxing_day_observed_on_monday_december_28_2026() -> None:
    assert not EMEA.is_business_day(date(2026, 12, 28))
    assert EMEA.is_business_day(date(2026, 12, 29))
    assert EMEA.next_open(london(2026, 12, 25, 9)) == utc(2026, 12, 29, 8)


def test_christmas_run_amer() -> None:
    # Thu 24 Dec is a working day in the US calendar; Fri 25 Dec is not.
    assert AMER.sla_deadline(la(2026, 12, 24, 10)) == la(2026, 12, 28, 12)


def test_christmas_run_emea() -> None:
    # Thu 24 Dec 10:00: 7 h, then Christmas, weekend, Boxing Day observed, 5 h Tue 29th.
    assert EMEA.sla_deadline(london(2026, 12, 24, 10)) == utc(2026, 12, 29, 13)


def test_christmas_run_apac() -> None:
    # Manila: 24, 25, 30, 31 Dec and 1 Jan are all holidays.
    assert APAC.sla_deadline(manila(2026, 12, 23, 12)) == manila(2026, 12, 28, 15)
    # Tue 29 Dec after the cutoff: the clock waits until Mon 4 Jan 2027.
    assert APAC.clock_start(manila(2026, 12, 29, 17)) == manila(2027, 1, 4, 9)
    assert APAC.sla_deadline(manila(2026, 12, 29, 17)) == manila(2027, 1, 5, 12)


def test_observed_new_year_on_previous_december_31_is_kept() -> None:
    # 1 Jan 2022 was a Saturday: the US observed it on Fri 31 Dec 2021.
    assert not AMER.is_business_day(date(2021, 12, 31))


# --------------------------------------------------------------------------
# Cutoff, weekends, closing time
# --------------------------------------------------------------------------


def test_submission_one_second_before_cutoff_starts_clock_immediately() -> None:
    submitted = la(2026, 6, 15, 16, 29, 59)
    assert AMER.clock_start(submitted) == submitted
    # 30 m 01 s on Monday, 10 h Tuesday, 1 h 29 m 59 s Wednesday.
    assert AMER.sla_deadline(submitted) == la(2026, 6, 17, 8, 29, 59)


def test_submission_at_cutoff_starts_clock_next_morning() -> None:
    submitted = la(2026, 6, 15, 16, 30)
    assert AMER.clock_start(submitted) == la(2026, 6, 16, 7)
    assert AMER.sla_deadline(submitted) == la(2026, 6, 17, 9)


def test_submission_at_cutoff_in_emea_and_apac() -> None:
    assert EMEA.clock_start(london(2026, 6, 15, 16, 30)) == london(2026, 6, 16, 8)
    assert EMEA.clock_start(london(2026, 6, 15, 16, 29, 59)) == london(2026, 6, 15, 16, 29, 59)
    assert APAC.clock_start(manila(2026, 6, 15, 16, 30)) == manila(2026, 6, 16, 9)


def test_submission_before_opening_starts_clock_at_opening_same_day() -> None:
    assert AMER.clock_start(la(2026, 6, 15, 5, 12)) == la(2026, 6, 15, 7)


def test_weekend_submission_starts_clock_on_monday() -> None:
    assert AMER.clock_start(la(2026, 6, 13, 10)) == la(2026, 6, 15, 7)
    assert AMER.sla_deadline(la(2026, 6, 13, 10)) == la(2026, 6, 16, 9)
    assert AMER.clock_start(la(2026, 6, 12, 16, 45)) == la(2026, 6, 15, 7)
    assert not AMER.is_business_day(date(2026, 6, 13))
    assert not AMER.is_open(la(2026, 6, 14, 12))


def test_deadline_exactly_at_closing_time_is_the_closing_instant() -> None:
    assert AMER.add_business_hours(la(2026, 6, 15, 7), 10 * H) == la(2026, 6, 15, 17)
    assert AMER.add_business_hours(la(2026, 6, 15, 7), 10) == la(2026, 6, 15, 17)
    # EMEA Mon 14:00 GMT: 3 h Monday + 9 h Tuesday ends on Tuesday's closing.
    assert EMEA.sla_deadline(london(2026, 1, 12, 14)) == london(2026, 1, 13, 17)
    assert not EMEA.is_open(london(2026, 1, 13, 17))


def test_closing_instant_is_closed_and_opening_instant_is_open() -> None:
    assert AMER.is_open(la(2026, 6, 15, 7))
    assert AMER.is_open(la(2026, 6, 15, 16, 59, 59, 999999))
    assert not AMER.is_open(la(2026, 6, 15, 17))
    assert AMER.next_open(la(2026, 6, 15, 17)) == la(2026, 6, 16, 7)


def test_add_from_closed_start_counts_from_next_opening_without_cutoff() -> None:
    # add_business_hours has no cutoff: 16:45 is still open and counted.
    assert AMER.add_business_hours(la(2026, 6, 15, 16, 45), H) == la(2026, 6, 16, 7, 45)
    assert AMER.add_business_hours(la(2026, 6, 13, 10), H) == la(2026, 6, 15, 8)


def test_results_are_exact_to_the_microsecond() -> None:
    start = la(2026, 6, 15, 10, 0, 0, 123457)
    assert AMER.add_business_hours(start, 8.5) == la(2026, 6, 16, 8, 30, 0, 123457)
    assert AMER.add_business_hours(start, timedelta(hours=1, microseconds=1)) == la(
        2026, 6, 15, 11, 0, 0, 123458
    )
    assert AMER.business_time_between(start, la(2026, 6, 15, 10, 0, 1)) == timedelta(
        microseconds=876543
    )


def test_float_hours_and_timedelta_agree() -> None:
    start = london(2026, 2, 2, 9, 17)
    assert EMEA.add_business_hours(start, 2.25) == EMEA.add_business_hours(start, 2.25 * H)


def test_zero_delta_gives_next_opening() -> None:
    assert AMER.add_business_hours(la(2026, 6, 13, 10), 0) == la(2026, 6, 15, 7)
    open_at = la(2026, 6, 15, 10)
    assert AMER.add_business_hours(open_at, timedelta()) == open_at


def test_next_open_returns_the_argument_itself_when_open() -> None:
    at = la(2026, 6, 15, 10)
    assert AMER.next_open(at) is at


def test_far_years_extend_the_precomputed_range() -> None:
    for at in (utc(1999, 11, 3, 20), utc(2041, 3, 8, 18), utc(2026, 6, 1, 18)):
        assert AMER.add_business_hours(at, 30 * H) == ref_add(Region.AMER, at, 30 * H)
    # A year of business hours (~2,500) from 2026.
    start = la(2026, 1, 5, 7)
    end = AMER.add_business_hours(start, 2500 * H)
    assert AMER.business_time_between(start, end) == 2500 * H


def test_years_without_holiday_data_are_refused_not_guessed() -> None:
    # holidays publishes US/GB/PH rules up to 2100; past that it would
    # silently return no holidays at all.
    with pytest.raises(ValueError, match="outside the years"):
        AMER.is_open(utc(2101, 1, 5, 18))
    with pytest.raises(ValueError, match="outside the years"):
        AMER.next_open(datetime.max.replace(tzinfo=UTC))
    with pytest.raises(ValueError, match="ran past"):
        AMER.add_business_hours(utc(2100, 12, 1), 500)
    with pytest.raises(ValueError, match="holiday data"):
        AMER.is_business_day(date(2150, 3, 3))
    with pytest.raises(ValueError, match="larger"):
        AMER.add_business_hours(utc(2026, 1, 1), 1e9)
    assert AMER.add_business_hours(utc(2026, 6, 1, 18), 1) == utc(2026, 6, 1, 19)


# --------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda naive: AMER.is_open(naive),
        lambda naive: AMER.next_open(naive),
        lambda naive: AMER.add_business_hours(naive, H),
        lambda naive: AMER.business_time_between(naive, utc(2026, 1, 2)),
        lambda naive: AMER.business_time_between(utc(2026, 1, 2), naive),
        lambda naive: AMER.sla_deadline(naive),
        lambda naive: AMER.clock_start(naive),
    ],
)
def test_naive_datetime_is_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="naive"):
        call(datetime(2026, 6, 15, 10))


def test_non_datetime_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        AMER.is_open(date(2026, 6, 15))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AMER.add_business_hours(utc(2026, 6, 15), "12h")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# End of month / quarter
# --------------------------------------------------------------------------


def test_last_two_business_days_of_month() -> None:
    # March 2026 ends Tue 31: last two business days are Mon 30 and Tue 31.
    assert not AMER.last_business_days_of_period(la(2026, 3, 27, 12))
    assert AMER.last_business_days_of_period(la(2026, 3, 30, 0))
    assert AMER.last_business_days_of_period(la(2026, 3, 31, 16))
    assert not AMER.last_business_days_of_period(la(2026, 4, 1, 7))
    # Local date decides: 1 Apr 06:00 UTC is still 31 Mar in Los Angeles.
    assert AMER.last_business_days_of_period(utc(2026, 4, 1, 6))
    assert not EMEA.last_business_days_of_period(utc(2026, 4, 1, 6))


def test_month_ending_on_weekend_and_quarter_period() -> None:
    # May 2026 ends Sun 31: last business days Thu 28 and Fri 29; weekend inside.
    assert not AMER.last_business_days_of_period(date(2026, 5, 27))
    assert AMER.last_business_days_of_period(date(2026, 5, 28))
    assert AMER.last_business_days_of_period(date(2026, 5, 30))
    assert not AMER.last_business_days_of_period(date(2026, 5, 29), period="quarter")
    assert AMER.last_business_days_of_period(date(2026, 6, 29), period="quarter")
    # December 2026 in EMEA: 30 and 31 Dec (24-29 are holidays or weekend or not last).
    assert EMEA.last_business_days_of_period(date(2026, 12, 30), period="quarter")
    assert not EMEA.last_business_days_of_period(date(2026, 12, 29))


# --------------------------------------------------------------------------
# Policy as data
# --------------------------------------------------------------------------


def test_default_policy_is_the_handbooks_hours_cutoff_and_12_hour_sla() -> None:
    """The defaults a deployment gets without settings: each region's zone and
    opening hours, the 16:30 local cutoff and the 12-business-hour SLA."""
    assert AMER.tz == LA and EMEA.tz == LONDON and APAC.tz == MANILA
    assert (AMER.hours.open, AMER.hours.close) == (time(7), time(17))
    assert (EMEA.hours.open, EMEA.hours.close) == (time(8), time(17))
    assert (APAC.hours.open, APAC.hours.close) == (time(9), time(18))
    assert all(c.hours.cutoff == time(16, 30) and c.sla == 12 * H for c in CALENDARS.values())


def test_calendar_for_is_cached_and_accepts_region_names() -> None:
    assert calendar_for(Region.EMEA) is EMEA
    assert calendar_for("EMEA") is EMEA
    assert calendar_for(Region.EMEA, CalendarPolicy()) is EMEA


def test_extra_closures_and_working_days_from_settings_json() -> None:
    policy = CalendarPolicy.model_validate(
        {
            "regions": {
                "EMEA": {
                    "extra_closures": ["2026-12-24"],
                    "extra_working_days": ["2026-12-28"],
                    "sla_business_hours": 8,
                }
            }
        }
    )
    cal = calendar_for(Region.EMEA, policy)
    assert cal is not EMEA
    assert policy.hours_for(Region.AMER) == DEFAULT_REGION_HOURS[Region.AMER]
    assert not cal.is_business_day(date(2026, 12, 24))
    assert cal.is_business_day(date(2026, 12, 28))
    # Wed 23 Dec 15:00: 2 h Wednesday, 24th closed, 6 h on the 28th (worked).
    assert cal.sla_deadline(london(2026, 12, 23, 15)) == london(2026, 12, 28, 14)


def test_own_region_hours_build_a_calendar() -> None:
    hours = RegionHours(
        time_zone="Etc/GMT",
        open="09:00",
        close="17:30",
        holiday_country=None,
        workdays=[0, 1, 2, 3],
    )
    cal = BusinessCalendar(hours)
    assert cal.is_open(utc(2026, 7, 2, 17, 29)) and not cal.is_open(utc(2026, 7, 3, 10))
    assert cal.add_business_hours(utc(2026, 7, 2, 17), 1) == utc(2026, 7, 6, 9, 30)


@pytest.mark.parametrize(
    "bad",
    [
        {"time_zone": "Mars/Olympus"},
        {"close": "06:00"},
        {"holiday_country": "XX"},
        {"cutoff": "06:00"},
        {"sla_business_hours": 0},
        {"workdays": [7]},
    ],
)
def test_invalid_policy_is_refused(bad: dict[str, object]) -> None:
    base = DEFAULT_REGION_HOURS[Region.AMER].model_dump()
    with pytest.raises(ValueError):
        RegionHours.model_validate({**base, **bad})
