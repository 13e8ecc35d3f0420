"""A profile: the numbers of one regulation (sizes, lists, periods) as data, from profiles/*.toml."""

from __future__ import annotations

import tomllib
import unicodedata
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
    # classified-content: stamps strongest first, as written (upper case); labels such as "Độ mật";
    # words that, after "mật"/"mat", make an ordinary word ("mật khẩu", "mat bang") and not a stamp.
    classified_stamps: tuple[str, ...]
    classified_labels: tuple[str, ...]
    classified_false_friends: frozenset[str]
    # service-registration: sending domain → service name (shipped, and added by config), and the
    # sign-up / confirmation wording looked for in the subject and in the body.
    service_domains: tuple[tuple[str, str], ...]
    service_domains_extra: tuple[tuple[str, str], ...]
    registration_subject_phrases: tuple[str, ...]
    registration_body_phrases: tuple[str, ...]

    def with_overrides(self, overrides: dict[str, Any]) -> Profile:
        """A copy with config.toml's ``[profile.overrides]`` applied (keys already validated)."""
        return replace(self, **_coerce(overrides))


def _nfc(value: object) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """TOML values → field types: lists become lower-case frozensets, or tuples (order and case kept)
    for ``tuple[str, ...]`` fields; tables (or plain lists of domains) become sorted (key, name) pairs."""
    kinds = {f.name: str(f.type) for f in fields(Profile)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = kinds.get(key, "")
        if kind.startswith("tuple[tuple"):
            pairs = value.items() if isinstance(value, dict) else ((v, v) for v in value)
            out[key] = tuple(sorted((_nfc(k).lower().rstrip("."), _nfc(v)) for k, v in pairs))
        elif kind.startswith("tuple") and isinstance(value, list):
            out[key] = tuple(_nfc(v) for v in value)
        elif isinstance(value, list):
            out[key] = frozenset(_nfc(v).lower() for v in value)
        else:
            out[key] = value
    return out


def profile_keys() -> set[str]:
    return {f.name for f in fields(Profile)} - {"name", "title"}


def load_profile(name: str) -> Profile:
    """Load a shipped profile by name; raises KeyError for an unknown one."""
    if name not in PROFILE_NAMES:
        raise KeyError(name)
    text = resources.files("rules").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    data.pop("accounts", None)  # the account rules' numbers: monitor/mailboxes/evaluate.py reads them
    return Profile(**_coerce(data))


def profile_table(name: str, table: str) -> dict[str, object]:
    """One table of a shipped profile's TOML, e.g. ``accounts``."""
    if name not in PROFILE_NAMES:
        raise KeyError(name)
    text = resources.files("rules").joinpath("profiles", f"{name}.toml").read_text("utf-8")
    value = tomllib.loads(text).get(table, {})
    return dict(value) if isinstance(value, dict) else {}
