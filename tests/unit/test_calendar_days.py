"""Holidays as policy data: named company days and the year overview (domain/calendar.py).

Why these tests: which days a region is closed decides every SLA deadline,
and people need to see why a day is closed or worked. Each rule is pinned on
fixed dates of 2027 (never today): England's bank holidays close EMEA, a
plain GB calendar would miss them, a named company closure or extra working
day changes the day and shows its name, and the older plain-date settings
still load and serialize exactly as before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from domain.calendar import (
    DEFAULT_REGION_HOURS,
    BusinessCalendar,
    CalendarDay,
    CalendarPolicy,
    DayKind,
    NamedDate,
    RegionHours,
    calendar_for,
    calendar_year,
)
from domain.models import Region
from om.settings import load_settings

LONDON = ZoneInfo("Europe/London")
EASTER_MONDAY_2027 = date(2027, 3, 29)
SUMMER_BANK_HOLIDAY_2027 = date(2027, 8, 30)


def emea_with(**fields: object) -> RegionHours:
    return RegionHours.model_validate({**DEFAULT_REGION_HOURS[Region.EMEA].model_dump(), **fields})


def policy(region: str, **fields: object) -> CalendarPolicy:
    return CalendarPolicy.model_validate({"regions": {region: fields}})


# ---- EMEA keeps England's bank holidays -------------------------------------------------


def test_emea_is_closed_on_englands_easter_monday_and_summer_bank_holiday() -> None:
    emea = calendar_for(Region.EMEA)
    assert emea.hours.holiday_source == "holidays GB-ENG"
    for day, name in [
        (EASTER_MONDAY_2027, "Easter Monday"),
        (SUMMER_BANK_HOLIDAY_2027, "Late Summer Bank Holiday"),
    ]:
        assert not emea.is_business_day(day)
        assert emea.day_reasons(day) == (
            CalendarDay(date=day, name=name, kind=DayKind.PUBLIC_HOLIDAY, source="holidays GB-ENG"),
        )
    # The Monday after Easter Monday week is an ordinary working day.
    assert emea.is_business_day(date(2027, 4, 5)) and emea.day_reasons(date(2027, 4, 5)) == ()


def test_gb_without_a_subdivision_lacks_the_england_only_days() -> None:
    whole_uk = BusinessCalendar(emea_with(holiday_subdivision=None), name="EMEA")
    assert whole_uk.hours.holiday_source == "holidays GB"
    assert whole_uk.is_business_day(EASTER_MONDAY_2027)
    assert whole_uk.is_business_day(SUMMER_BANK_HOLIDAY_2027)
    assert not whole_uk.is_business_day(date(2027, 3, 26))  # Good Friday is UK-wide


def test_sla_skips_good_friday_and_easter_monday_in_london() -> None:
    # Thu 25 Mar 2027 10:00: 7 h Thursday, Fri 26 and Mon 29 closed (BST from
    # the 28th), 5 h on Tuesday 30 March.
    submitted = datetime(2027, 3, 25, 10, tzinfo=LONDON)
    deadline = calendar_for(Region.EMEA).sla_deadline(submitted)
    assert (
        deadline
        == datetime(2027, 3, 30, 13, tzinfo=LONDON)
        == datetime(2027, 3, 30, 12, tzinfo=UTC)
    )


def test_us_calendar_closes_columbus_day_and_veterans_day_unless_worked() -> None:
    amer = calendar_for(Region.AMER)
    assert amer.holiday_name(date(2027, 10, 11)) == "Columbus Day"
    assert amer.holiday_name(date(2027, 11, 11)) == "Veterans Day"
    assert not amer.is_business_day(date(2027, 10, 11))
    assert not amer.is_business_day(date(2027, 11, 11))


def test_unknown_subdivision_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match="choose from ENG, NIR, SCT, WLS"):
        emea_with(holiday_subdivision="XX")
    assert emea_with(holiday_subdivision="eng").holiday_subdivision == "ENG"
    with pytest.raises(ValidationError, match="holiday_subdivision needs holiday_country"):
        emea_with(holiday_country=None, holiday_subdivision="ENG")


# ---- named company days -----------------------------------------------------------------


def test_named_company_closure_closes_a_weekday_and_shows_its_name() -> None:
    shutdown = policy("EMEA", extra_closures={"2027-07-01": "Summer party"})
    emea = calendar_for(Region.EMEA, shutdown)
    assert not emea.is_business_day(date(2027, 7, 1))  # a Thursday
    assert calendar_for(Region.EMEA).is_business_day(date(2027, 7, 1))
    year = calendar_year("EMEA", 2027, shutdown)
    assert (
        CalendarDay(
            date=date(2027, 7, 1),
            name="Summer party",
            kind=DayKind.COMPANY_CLOSURE,
            source="settings extra_closures",
        )
        in year.closed
    )


def test_named_extra_working_day_opens_a_public_holiday() -> None:
    worked = policy("amer", extra_working_days={"2027-10-11": "Columbus Day worked"})
    amer = calendar_for(Region.AMER, worked)
    assert amer.is_business_day(date(2027, 10, 11))
    assert amer.is_open(datetime(2027, 10, 11, 12, tzinfo=ZoneInfo("America/Los_Angeles")))
    year = calendar_year(Region.AMER, 2027, worked)
    assert year.worked == (
        CalendarDay(
            date=date(2027, 10, 11),
            name="Columbus Day worked",
            kind=DayKind.EXTRA_WORKING_DAY,
            source="settings extra_working_days",
            instead_of="public holiday: Columbus Day",
        ),
    )
    assert date(2027, 10, 11) not in {d.date for d in year.closed}
    assert date(2027, 11, 11) in {d.date for d in year.closed}  # Veterans Day still closed


def test_extra_working_day_wins_over_a_company_closure_and_a_weekend() -> None:
    hours = emea_with(
        extra_closures={"2027-12-29": "Year-end shutdown"},
        extra_working_days=[{"date": "2027-12-29", "name": "Close the books"}, "2027-12-18"],
    )
    cal = BusinessCalendar(hours, name="EMEA")
    assert cal.is_business_day(date(2027, 12, 29)) and cal.is_business_day(date(2027, 12, 18))
    worked = {d.date: d for d in cal.year_overview(2027).worked}
    assert worked[date(2027, 12, 29)].instead_of == "company closure: Year-end shutdown"
    assert worked[date(2027, 12, 18)].name == "Extra working day"
    assert worked[date(2027, 12, 18)].instead_of == "weekend: Saturday"


def test_old_plain_date_lists_still_load_and_serialize_as_before() -> None:
    old = {"extra_closures": ["2026-12-24", "2026-12-24"], "extra_working_days": ["2026-12-28"]}
    hours = emea_with(**old)
    assert hours.extra_closures == (NamedDate(date=date(2026, 12, 24)),)
    assert hours.extra_closures[0].name is None
    dumped = hours.model_dump(mode="json")
    assert dumped["extra_closures"] == ["2026-12-24"]
    assert dumped["extra_working_days"] == ["2026-12-28"]
    assert RegionHours.model_validate_json(hours.model_dump_json()) == hours
    closed = calendar_for(Region.EMEA, policy("EMEA", **old)).day_reasons(date(2026, 12, 24))
    assert [(d.name, d.kind) for d in closed] == [("Company closure", DayKind.COMPANY_CLOSURE)]


def test_named_days_round_trip_and_equal_policies_share_one_calendar() -> None:
    as_mapping = policy(
        "EMEA", extra_closures={"2027-08-31": "Summer shutdown", "2027-08-02": None}
    )
    as_objects = policy(
        "EMEA",
        extra_closures=[
            {"date": "2027-08-31", "name": " Summer shutdown "},
            date(2027, 8, 2),
        ],
    )
    assert as_mapping == as_objects and hash(as_mapping.hours_for("EMEA")) == hash(
        as_objects.hours_for("EMEA")
    )
    assert calendar_for(Region.EMEA, as_mapping) is calendar_for(Region.EMEA, as_objects)
    dumped = as_mapping.hours_for("EMEA").model_dump(mode="json")["extra_closures"]
    assert dumped == ["2027-08-02", {"date": "2027-08-31", "name": "Summer shutdown"}]
    with pytest.raises(ValidationError, match="frozen"):
        as_mapping.hours_for("EMEA").extra_closures[0].name = "renamed"  # type: ignore[misc]


def test_one_date_with_two_names_is_refused() -> None:
    with pytest.raises(ValidationError, match="2027-08-31 is listed twice"):
        emea_with(
            extra_closures=[
                {"date": "2027-08-31", "name": "Summer shutdown"},
                {"date": "2027-08-31", "name": "Offsite"},
            ]
        )
    named = emea_with(extra_closures=["2027-08-31", {"date": "2027-08-31", "name": "Offsite"}])
    assert named.extra_closures == (NamedDate(date=date(2027, 8, 31), name="Offsite"),)


def test_named_days_load_from_the_environment_in_any_region_case(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    file = tmp_path / "settings.json"
    file.write_text('{"calendar": {"regions": {"EMEA": {"sla_business_hours": 8}}}}')
    monkeypatch.setenv("OM_SETTINGS_FILE", str(file))
    monkeypatch.setenv(
        "OM_CALENDAR__REGIONS__EMEA__EXTRA_CLOSURES", '{"2027-07-01": "Summer party"}'
    )
    load_settings.cache_clear()
    try:
        hours = load_settings().calendar.hours_for(Region.EMEA)
    finally:
        load_settings.cache_clear()
    # The file's field and the environment's field both apply to EMEA.
    assert hours.sla_business_hours == 8
    assert hours.extra_closures == (NamedDate(date=date(2027, 7, 1), name="Summer party"),)


# ---- the year overview ------------------------------------------------------------------


def test_year_overview_lists_weekday_closures_unless_weekends_are_asked_for() -> None:
    weekdays_only = calendar_year(Region.EMEA, 2027)
    assert weekdays_only.weekend == ("Sat", "Sun") and not weekdays_only.weekends_listed
    assert [(d.date, d.name) for d in weekdays_only.closed] == [
        (date(2027, 1, 1), "New Year's Day"),
        (date(2027, 3, 26), "Good Friday"),
        (EASTER_MONDAY_2027, "Easter Monday"),
        (date(2027, 5, 3), "May Day"),
        (date(2027, 5, 31), "Spring Bank Holiday"),
        (SUMMER_BANK_HOLIDAY_2027, "Late Summer Bank Holiday"),
        (date(2027, 12, 27), "Christmas Day (observed)"),
        (date(2027, 12, 28), "Boxing Day (observed)"),
    ]
    everything = calendar_year(Region.EMEA, 2027, weekends=True)
    christmas = [d for d in everything.closed if d.date == date(2027, 12, 25)]
    assert [(d.kind, d.name) for d in christmas] == [
        (DayKind.PUBLIC_HOLIDAY, "Christmas Day"),
        (DayKind.WEEKEND, "Saturday"),
    ]
    assert sum(d.kind is DayKind.WEEKEND for d in everything.closed) == 104
    assert everything.model_dump(mode="json")["closed"][0] == {
        "date": "2027-01-01",
        "name": "New Year's Day",
        "kind": "public_holiday",
        "source": "holidays GB-ENG",
        "instead_of": None,
        "weekday": "Fri",
    }


def test_year_overview_refuses_a_year_without_holiday_data() -> None:
    with pytest.raises(ValueError, match="no calendar for year 2101"):
        calendar_year(Region.APAC, 2101)
    no_holidays = RegionHours(time_zone="UTC", open=time(9), close=time(17), holiday_country=None)
    assert BusinessCalendar(no_holidays).year_overview(2027).closed == ()
