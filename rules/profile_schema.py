"""Reading a profile's TOML tables with every problem reported by its TOML path.

Written by hand rather than with pydantic: profiles are loaded by the rules package, which worker
processes import, and those never import pydantic (an import contract keeps them small). The shapes
are few (numbers, words, lists, deadlines, tables of them), so a small reader that remembers where it
is and which keys it used covers them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, time
from typing import Any, TypeVar

T = TypeVar("T")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ProfileError(Exception):
    """A profile (or config.toml's overrides of it) that cannot be used; one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def nfc(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge key by key, anything else (numbers, lists) is replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class Reader:
    """One TOML table being read: typed getters that record errors (with the path) instead of raising.

    ``partial``: a table of overrides, where nothing is required. ``done()`` reports the keys no getter
    asked for, so a misspelt key is an error rather than silently ignored.
    """

    def __init__(self, data: Mapping[str, Any], path: str, errors: list[str], partial: bool = False) -> None:
        self.data = data
        self.path = path
        self.errors = errors
        self.partial = partial
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required and not self.partial:
                self.error(key, "required")
            return None
        return self.data[key]

    def _typed(self, key: str, required: bool, check: Callable[[Any], T | None], expected: str) -> T | None:
        value = self._get(key, required)
        if value is None:
            return None
        result = check(value)
        if result is None:
            self.error(key, f"expected {expected} (got {value!r})")
        return result

    def integer(self, key: str, minimum: int = 0, required: bool = False) -> int | None:
        value = self._typed(
            key, required, lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None, "a whole number"
        )
        if value is not None and value < minimum:
            self.error(key, f"must be at least {minimum} (got {value})")
            return None
        return value

    def number(self, key: str, low: float, high: float, required: bool = False) -> float | None:
        value = self._typed(
            key,
            required,
            lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
            "a number",
        )
        if value is not None and not low <= value <= high:
            self.error(key, f"must be between {low} and {high} (got {value})")
            return None
        return value

    def boolean(self, key: str, required: bool = False) -> bool | None:
        return self._typed(key, required, lambda v: v if isinstance(v, bool) else None, "true or false")

    def text(self, key: str, choices: tuple[str, ...] = (), required: bool = False) -> str | None:
        value = self._typed(key, required, lambda v: nfc(v) if isinstance(v, str) and v.strip() else None, "text")
        if value is not None and choices and value not in choices:
            self.error(key, f"expected one of {', '.join(choices)} (got {value!r})")
            return None
        return value

    def day(self, key: str, required: bool = False) -> date | None:
        return self._typed(key, required, lambda v: v if isinstance(v, date) else None, "a date (YYYY-MM-DD)")

    def texts(self, key: str, choices: tuple[str, ...] = (), required: bool = False) -> tuple[str, ...] | None:
        value = self._typed(
            key,
            required,
            lambda v: tuple(nfc(x) for x in v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else None,
            "a list of text",
        )
        if value is not None and choices:
            bad = [x for x in value if x not in choices]
            if bad:
                self.error(key, f"{', '.join(map(repr, bad))} not among {', '.join(choices)}")
                return None
        return value

    def clock_span(self, key: str, required: bool = False) -> tuple[time, time] | None:
        value = self.texts(key, required=required)
        if value is None:
            return None
        matches = [_CLOCK.match(v) for v in value]
        if len(value) != 2 or not all(matches):
            self.error(key, f'expected ["HH:MM", "HH:MM"] (got {list(value)!r})')
            return None
        start, end = (time(int(m[1]), int(m[2])) for m in matches if m)
        if start >= end:
            self.error(key, f"the session ends ({end:%H:%M}) before it starts ({start:%H:%M})")
            return None
        return start, end

    def subtable(self, key: str, required: bool = False) -> Reader | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.error(key, f"expected a table (got {value!r})")
            return None
        return Reader(value, self.where(key), self.errors, self.partial)

    def tables(self, key: str, names: tuple[str, ...] = (), required: bool = False) -> dict[str, Reader]:
        """A table of tables (``targets.unit``, ``targets.personal``…), each read by the caller."""
        outer = self.subtable(key, required)
        if outer is None:
            return {}
        out = {}
        for name in outer.data:
            if names and name not in names:
                outer.used.add(name)
                outer.error(name, f"unknown; expected one of {', '.join(names)}")
                continue
            inner = outer.subtable(name)
            if inner is not None:
                out[name] = inner
        return out

    def done(self) -> None:
        for key in sorted(set(self.data) - self.used):
            self.error(key, "unknown key")
