"""Local-time labels name the region and the UTC offset, never a shared abbreviation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import CalendarPolicy
from domain.models import Region
from domain.timefmt import local_label, utc_offset

WINTER = datetime(2026, 1, 16, 15, 0, tzinfo=UTC)  # a Friday
SUMMER = datetime(2026, 7, 17, 15, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("at", "region", "label"),
    [
        (WINTER, Region.AMER, "Fri 16 Jan 07:00 AMER (UTC-08:00)"),
        (SUMMER, Region.AMER, "Fri 17 Jul 08:00 AMER (UTC-07:00)"),
        (WINTER, Region.APAC, "Fri 16 Jan 23:00 APAC (UTC+08:00)"),
        (SUMMER, Region.APAC, "Fri 17 Jul 23:00 APAC (UTC+08:00)"),
        (WINTER, Region.EMEA, "Fri 16 Jan 15:00 EMEA (UTC+00:00)"),
        (SUMMER, Region.EMEA, "Fri 17 Jul 16:00 EMEA (UTC+01:00)"),
    ],
)
def test_label_is_the_regions_clock_with_its_offset_at_that_instant(at, region, label):
    assert local_label(at, region) == label


def test_amer_and_apac_standard_time_no_longer_read_alike():
    # tzdata abbreviates both America/Los_Angeles and Asia/Manila standard time "PST".
    assert WINTER.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%Z") == "PST"
    assert WINTER.astimezone(ZoneInfo("Asia/Manila")).strftime("%Z") == "PST"
    amer, apac = local_label(WINTER, "AMER"), local_label(WINTER, "APAC")
    assert "PST" not in amer + apac
    assert amer.split(" ", 4)[-1] != apac.split(" ", 4)[-1]


def test_label_follows_the_policys_time_zone_and_a_custom_clock():
    policy = CalendarPolicy.model_validate({"regions": {"APAC": {"time_zone": "Asia/Kolkata"}}})
    assert local_label(WINTER, Region.APAC, policy, clock="%H:%M") == "20:30 APAC (UTC+05:30)"


def test_offsets_west_of_utc_and_fractional_offsets_are_signed_and_padded():
    assert utc_offset(timedelta(hours=-3, minutes=-30)) == "UTC-03:30"
    assert utc_offset(timedelta(hours=5, minutes=45)) == "UTC+05:45"
    assert utc_offset(None) == "UTC+00:00"


def test_abbreviations_and_naive_instants_are_refused():
    with pytest.raises(ValueError, match="clock: %Z"):
        local_label(WINTER, Region.AMER, clock="%H:%M %Z")
    with pytest.raises(ValueError):
        local_label(datetime(2026, 1, 16, 15, 0), Region.AMER)
