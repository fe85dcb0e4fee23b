"""Business hours as pure time arithmetic: open or not, and when the closed period began."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from responder.hours import ALL_DAY, DAYS, NEVER_OPEN_SINCE, Hours, closed_since, is_open, minutes

LISBON = "Europe/Lisbon"
WEEKDAYS_9_TO_1730 = {day: [["09:00", "17:30"]] for day in DAYS[:5]}


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_times_read_as_minutes_and_nonsense_is_refused() -> None:
    assert minutes("00:00") == 0 and minutes("09:30") == 570 and minutes("24:00") == 1440
    for bad in ("9:30", "24:01", "12:60", "ab:cd", "12-30", ""):
        with pytest.raises(ValueError):
            minutes(bad)


def test_the_defaults_are_always_open() -> None:
    hours = Hours.parse("UTC", {day: ALL_DAY for day in DAYS}, [])
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for hour in range(0, 24 * 8, 5):
        assert is_open(hours, start + timedelta(hours=hour, minutes=59, seconds=59))


def test_open_inside_closed_outside_with_the_period_s_start() -> None:
    hours = Hours.parse(LISBON, WEEKDAYS_9_TO_1730, [])
    # Wednesday 2 December 2026 (Lisbon is UTC+0 in winter).
    assert is_open(hours, local(LISBON, 2026, 12, 2, 9, 0))
    assert is_open(hours, local(LISBON, 2026, 12, 2, 17, 29))
    assert closed_since(hours, local(LISBON, 2026, 12, 2, 17, 30)) == local(
        LISBON, 2026, 12, 2, 17, 30
    )  # the end is exclusive
    # The overnight gap is one period: evening and next early morning share its start.
    evening = closed_since(hours, local(LISBON, 2026, 12, 2, 22, 0))
    dawn = closed_since(hours, local(LISBON, 2026, 12, 3, 6, 0))
    assert evening == dawn == local(LISBON, 2026, 12, 2, 17, 30)
    # The weekend is one period from Friday's close to Monday's opening.
    friday_close = local(LISBON, 2026, 12, 4, 17, 30)
    assert closed_since(hours, local(LISBON, 2026, 12, 5, 12, 0)) == friday_close
    assert closed_since(hours, local(LISBON, 2026, 12, 7, 8, 59)) == friday_close
    assert is_open(hours, local(LISBON, 2026, 12, 7, 9, 0))


def test_hours_are_in_the_business_s_zone_not_utc() -> None:
    hours = Hours.parse("America/New_York", WEEKDAYS_9_TO_1730, [])
    # 14:00 UTC is 09:00 in New York in December (UTC-5): open; 13:59 UTC is not.
    assert is_open(hours, datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    assert not is_open(hours, datetime(2026, 12, 2, 13, 59, tzinfo=UTC))


def test_a_holiday_is_a_whole_local_day_closed_and_joins_the_gaps_around_it() -> None:
    hours = Hours.parse(LISBON, WEEKDAYS_9_TO_1730, ["2026-12-08"])  # a Tuesday
    monday_close = local(LISBON, 2026, 12, 7, 17, 30)
    assert closed_since(hours, local(LISBON, 2026, 12, 8, 12, 0)) == monday_close
    assert closed_since(hours, local(LISBON, 2026, 12, 9, 8, 0)) == monday_close
    assert is_open(hours, local(LISBON, 2026, 12, 9, 9, 0))


def test_dst_keeps_the_wall_clock_hours() -> None:
    # Lisbon moves to UTC+1 on 29 March 2026 (a Sunday) and back on 25 October 2026.
    hours = Hours.parse(LISBON, {day: [["09:00", "17:30"]] for day in DAYS}, [])
    assert is_open(hours, datetime(2026, 3, 28, 9, 0, tzinfo=UTC))  # 09:00 WET
    assert not is_open(hours, datetime(2026, 3, 30, 7, 59, tzinfo=UTC))  # 08:59 WEST
    assert is_open(hours, datetime(2026, 3, 30, 8, 0, tzinfo=UTC))  # 09:00 WEST
    # Over the change the closed period still begins at the previous day's 17:30 local.
    assert closed_since(hours, datetime(2026, 3, 29, 2, 30, tzinfo=UTC)) == datetime(
        2026, 3, 28, 17, 30, tzinfo=UTC
    )
    assert closed_since(hours, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == datetime(
        2026, 10, 24, 16, 30, tzinfo=UTC
    )  # 17:30 WEST


def test_an_all_night_business_across_the_autumn_change() -> None:
    # Open 22:00-24:00 and 00:00-06:00: one night shift; the fall-back hour is inside it.
    night = [["00:00", "06:00"], ["22:00", "24:00"]]
    hours = Hours.parse(LISBON, {day: night for day in DAYS}, [])
    assert is_open(hours, datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 01:30 WEST
    assert is_open(hours, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 01:30 WET
    assert closed_since(hours, datetime(2026, 10, 25, 12, 0, tzinfo=UTC)) == datetime(
        2026, 10, 25, 6, 0, tzinfo=UTC
    )


def test_several_intervals_a_day_make_a_lunch_break_its_own_period() -> None:
    split = {day: [["09:00", "12:00"], ["14:00", "18:00"]] for day in DAYS}
    hours = Hours.parse("UTC", split, [])
    lunch = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert closed_since(hours, datetime(2026, 12, 2, 13, 0, tzinfo=UTC)) == lunch
    assert closed_since(hours, datetime(2026, 12, 2, 19, 0, tzinfo=UTC)) == datetime(
        2026, 12, 2, 18, 0, tzinfo=UTC
    )


def test_a_business_never_open_has_one_closed_period() -> None:
    hours = Hours.parse("UTC", {}, [])
    assert closed_since(hours, datetime(2026, 12, 2, tzinfo=UTC)) == NEVER_OPEN_SINCE
