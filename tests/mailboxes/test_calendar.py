"""Working days in Vietnam: Tết, Hùng Kings' day, swapped days, and configured overrides."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.mailboxes.calendar import Calendar, calendar_for
from tests.conftest import write_config


def test_tet_2026_is_not_working() -> None:
    cal = Calendar()
    for day in range(16, 21):
        assert not cal.is_working_day(date(2026, 2, day)), day
    assert cal.is_working_day(date(2026, 2, 13))
    assert cal.is_working_day(date(2026, 2, 23))
    assert cal.holiday_name(date(2026, 2, 17)) == "Tết Nguyên Đán"


def test_fifteen_working_days_spanning_tet() -> None:
    cal = Calendar()
    # Notice on Tue 10 Feb 2026: working days 11, 12, 13 Feb, then Tết (16–20), then from 23 Feb.
    deadline = cal.add_working_days(date(2026, 2, 10), 15)
    assert deadline == date(2026, 3, 10)
    assert cal.working_days_between(date(2026, 2, 10), deadline) == 15
    # Without the five Tết days it would have been Tue 3 Mar.
    assert deadline > date(2026, 3, 3)


def test_hung_kings_day_observed_and_swapped_saturday() -> None:
    cal = Calendar()
    assert not cal.is_working_day(date(2026, 4, 27))  # observed Monday for Sun 26 Apr
    assert cal.is_working_day(date(2026, 8, 22))  # Saturday worked in exchange for Mon 31 Aug
    assert not cal.is_working_day(date(2026, 8, 31))
    assert cal.add_working_days(date(2026, 8, 20), 3) == date(2026, 8, 24)


def test_configured_overrides() -> None:
    cal = Calendar(extra_days_off=[date(2027, 2, 11)], extra_working_days=[date(2027, 2, 20)])
    assert not cal.is_working_day(date(2027, 2, 11))
    assert cal.is_working_day(date(2027, 2, 20))  # a Saturday
    week = list(cal.working_days(date(2027, 2, 8), date(2027, 2, 21)))
    assert week == [
        date(2027, 2, 12),
        date(2027, 2, 15),
        date(2027, 2, 16),
        date(2027, 2, 17),
        date(2027, 2, 18),
        date(2027, 2, 19),
        date(2027, 2, 20),
    ]


def test_between_is_zero_backwards() -> None:
    cal = Calendar()
    assert cal.working_days_between(date(2026, 5, 5), date(2026, 5, 1)) == 0
    assert cal.working_days_between(date(2026, 5, 4), date(2026, 5, 8)) == 4


def test_config_toml_days_off_and_make_up_days_reach_the_calendar(tmp_path: Path) -> None:
    # An announced day off on Friday 26 November 2027, made up on Saturday 20 November.
    config = load_config(
        write_config(tmp_path, "[calendar]\nextra_days_off = [2027-11-26]\nextra_working_days = [2027-11-20]\n")
    )
    cal, plain = calendar_for(config.calendar), Calendar()
    assert plain.is_working_day(date(2027, 11, 26)) and not cal.is_working_day(date(2027, 11, 26))
    assert not plain.is_working_day(date(2027, 11, 20)) and cal.is_working_day(date(2027, 11, 20))
    assert cal.holiday_name(date(2027, 11, 26)) == "Ngày nghỉ theo thông báo / announced day off"
    assert cal.add_working_days(date(2027, 11, 25), 1) == date(2027, 11, 29)
    assert plain.add_working_days(date(2027, 11, 25), 1) == date(2027, 11, 26)


def test_a_day_both_off_and_worked_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[calendar]\nextra_days_off = [2027-05-08]\nextra_working_days = [2027-05-08]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(e.startswith("calendar:") and "2027-05-08" in e for e in info.value.errors), info.value.errors
