"""A profile: the numbers of one regulation (sizes, lists, periods) as data, from profiles/*.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from typing import Any

PROFILE_NAMES = ("dn-2022",)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    attachment_max_bytes: int
    executable_extensions: frozenset[str]
    executable_types: frozenset[str]

    def with_overrides(self, overrides: dict[str, Any]) -> Profile:
        """A copy with config.toml's ``[profile.overrides]`` applied (keys already validated)."""
        return replace(self, **_coerce(overrides))


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = frozenset(str(v).lower() for v in value) if isinstance(value, list) else value
    return out


def profile_keys() -> set[str]:
    return {f.name for f in fields(Profile)} - {"name", "title"}


def load_profile(name: str) -> Profile:
    """Load a shipped profile by name; raises KeyError for an unknown one."""
    if name not in PROFILE_NAMES:
        raise KeyError(name)
    text = resources.files("rules").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    # Tables read by their own rule families: accounts (rules/accounts.py), content (rules/content.py).
    data.pop("accounts", None)
    data.pop("content", None)
    return Profile(**_coerce(data))


def profile_table(name: str, table: str) -> dict[str, object]:
    """One table of a shipped profile's TOML, e.g. ``accounts``."""
    if name not in PROFILE_NAMES:
        raise KeyError(name)
    text = resources.files("rules").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    value = tomllib.loads(text).get(table, {})
    return dict(value) if isinstance(value, dict) else {}
