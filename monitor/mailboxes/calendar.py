"""The Vietnamese working-day calendar: Monday–Friday minus public holidays, plus announced swaps.

Public holidays (Tết and Hùng Kings' day follow the lunar calendar) come from the `holidays`
package (docs/libraries.md: numpy's busday calendar knows no make-up working Saturdays). The
government announces extra days off and make-up working days each year; config.toml lists them
([calendar] extra_days_off, extra_working_days) until the package knows them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import holidays

from monitor.config import CalendarSection


class Calendar:
    def __init__(
        self,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self._holidays = holidays.country_holidays("VN", language="vi")
        self._off = frozenset(extra_days_off)
        self._on = frozenset(extra_working_days)
        self._span: tuple[int, int] = (0, -1)
        self._ordinals: list[int] = []
        self._ranges: dict[tuple[date, date], tuple[date, ...]] = {}

    def is_working_day(self, day: date) -> bool:
        if day in self._on:
            return True
        if day in self._off:
            return False
        return bool(self._holidays.is_working_day(day))

    def holiday_name(self, day: date) -> str | None:
        if day in self._off:
            return "Ngày nghỉ theo thông báo / announced day off"
        name = self._holidays.get(day)
        return str(name) if name else None

    def _ensure(self, first: date, last: date) -> None:
        """Cache the working days of whole years around [first, last] as sorted ordinals."""
        lo, hi = date(first.year - 1, 1, 1).toordinal(), date(last.year + 1, 12, 31).toordinal()
        if self._span[0] <= lo and hi <= self._span[1]:
            return
        lo, hi = min(lo, self._span[0] or lo), max(hi, self._span[1])
        self._ordinals = [o for o in range(lo, hi + 1) if self.is_working_day(date.fromordinal(o))]
        self._span = (lo, hi)
        self._ranges.clear()

    def working_days(self, start: date, end: date) -> Iterator[date]:
        """Working days d with start <= d <= end, in order."""
        key = (start, end)
        days = self._ranges.get(key)
        if days is None:
            # The account rules ask for the same window once per mailbox: remember it.
            self._ensure(start, end)
            i = bisect.bisect_left(self._ordinals, start.toordinal())
            j = bisect.bisect_right(self._ordinals, end.toordinal())
            days = tuple(date.fromordinal(o) for o in self._ordinals[i:j])
            if len(self._ranges) > 256:
                self._ranges.clear()
            self._ranges[key] = days
        return iter(days)

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days come after ``start`` up to and including ``end`` (0 if end <= start)."""
        if end <= start:
            return 0
        self._ensure(start, end)
        i = bisect.bisect_right(self._ordinals, start.toordinal())
        j = bisect.bisect_right(self._ordinals, end.toordinal())
        return j - i

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (n >= 1); e.g. the deadline "15 working days later"."""
        if n < 1:
            raise ValueError("n must be at least 1")
        end = start + timedelta(days=n * 2 + 30)
        while True:
            self._ensure(start, end)
            i = bisect.bisect_right(self._ordinals, start.toordinal())
            if i + n - 1 < len(self._ordinals):
                return date.fromordinal(self._ordinals[i + n - 1])
            end += timedelta(days=365)


def calendar_for(section: CalendarSection) -> Calendar:
    """The calendar with config.toml's announced days off and make-up working days."""
    return Calendar(section.extra_days_off, section.extra_working_days)
