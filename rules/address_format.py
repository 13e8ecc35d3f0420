"""Official address conventions (DN-2022 Đ5.1-2): expected addresses from a name and a unit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime

from rules.accounts import AccountRule, WorkingDays
from rules.base import Cite, Finding, Title
from rules.mailbox_facts import AccountProfile, MailboxFacts


class _WithoutMarks(dict[int, int | None]):
    """A str.translate table that drops combining marks, filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_WITHOUT_MARKS = _WithoutMarks()


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics, lower case: "Nguyễn Đức" → "nguyen duc"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFD", text).translate(_WITHOUT_MARKS).lower()


def personal_base(display_name: str) -> str:
    """Given name + initials of family and middle names: "Nguyễn Thị Hoa" → "hoant"."""
    words = [w for w in re.split(r"[^a-z0-9]+", ascii_fold(display_name)) if w]
    if not words:
        return ""
    return words[-1] + "".join(w[0] for w in words[:-1])


def expected_local_part(box: MailboxFacts) -> str | None:
    """The local part the convention gives (without a duplicate number), or None if not applicable."""
    unit = box.unit.lower()
    if box.kind in ("unit", "agency"):
        return unit
    if box.kind == "personal":
        base = personal_base(box.display_name)
        return f"{base}.{unit}" if base else None
    return None


def _numbered(local: str, base: str, unit: str) -> bool:
    """``local`` is ``<base><digits>.<unit>`` (string tests: a regex built per mailbox defeats re's cache)."""
    number = local[len(base) : len(local) - len(unit) - 1]
    return (
        len(local) > len(base) + len(unit)
        and local.startswith(base)
        and local.endswith("." + unit)
        and (not number or number.isdigit())
    )


class AddressFormat(AccountRule):
    id = "address-format"
    title = Title(vi="Địa chỉ thư không đúng quy định đặt tên", en="Address does not follow the naming convention")
    cites = (Cite("DN-2022", 5, 1), Cite("DN-2022", 5, 2))

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        expected = expected_local_part(box)
        if expected is None or box.status in ("departed", "removed"):
            return
        local, _, domain = box.address.partition("@")
        if box.kind == "personal":
            base, _, unit = expected.partition(".")
            # The senior holder keeps the plain name; namesakes get 1, 2, 3… (Đ5.2c).
            if _numbered(local, base, unit):
                return
        elif local == expected:
            return
        yield self.finding(f"{box.address}: nên là / expected {expected}@{domain}")
