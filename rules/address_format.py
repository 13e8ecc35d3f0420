"""Official address conventions: the profile's domains and a local-part template per kind of mailbox.

Templates use the directory's data: ``{unit}`` (the unit code), ``{given}`` and ``{initials}`` (given
name, then the first letters of family and middle names: DN-2022 Đ5.2 "hoant"), ``{fullname}`` (every
name run together: LC-2015 Đ4.2 "hodemten"), ``{username}`` (any name: no form stated). Where the profile
numbers namesakes (DN-2022 Đ5.2c) digits may follow the name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime

from rules.accounts import AccountRule, WorkingDays
from rules.base import Finding, Title
from rules.mailbox_facts import AccountProfile, MailboxFacts

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_NAME_PARTS = ("given", "initials", "fullname")


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


def name_words(display_name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", ascii_fold(display_name)) if w]


def personal_base(display_name: str) -> str:
    """Given name + initials of family and middle names: "Nguyễn Thị Hoa" → "hoant"."""
    words = name_words(display_name)
    if not words:
        return ""
    return words[-1] + "".join(w[0] for w in words[:-1])


def expected_parts(template: str, box: MailboxFacts) -> tuple[str, str] | None:
    """The local part the template gives, split where a namesake's number goes (after the name);
    None when the template leaves the name free or the directory lacks what it needs."""
    words = name_words(box.display_name)
    values = {
        "unit": box.unit.lower(),
        "given": words[-1] if words else "",
        "initials": "".join(w[0] for w in words[:-1]),
        "fullname": "".join(words),
    }
    names = [m for m in _PLACEHOLDER.finditer(template) if m.group(1) in _NAME_PARTS]
    if "{username}" in template or (names and not words) or ("{unit}" in template and not values["unit"]):
        return None
    cut = names[-1].end() if names else len(template)

    def render(part: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], part)

    return render(template[:cut]), render(template[cut:])


def follows(local: str, parts: tuple[str, str], namesake_digits: bool) -> bool:
    """``local`` is the expected part, or (numbered namesakes) the name, digits, then the rest."""
    head, tail = parts
    if local == head + tail:
        return True
    number = local[len(head) : len(local) - len(tail)]
    return (
        namesake_digits
        and len(local) > len(head) + len(tail)
        and local.startswith(head)
        and local.endswith(tail)
        and number.isdigit()
    )


class AddressFormat(AccountRule):
    id = "address-format"
    title = Title(vi="Địa chỉ thư không đúng quy định đặt tên", en="Address does not follow the naming convention")
    topic = ("@", "dia chi", "so thu tu")
    aspects = ("personal", "unit", "agency", "admin")

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.status in ("departed", "removed"):
            return
        local, _, domain = box.address.lower().partition("@")
        domains = profile.address_domains
        right_domain = not domains or domain in domains
        template = profile.address_patterns.get(box.kind)
        parts = expected_parts(template, box) if template else None
        right_local = parts is None or follows(local, parts, profile.address_namesake_digits)
        if right_domain and right_local:
            return
        expected = "".join(parts) if parts else local
        suggested = f"{expected}@{domain if right_domain else domains[0]}"
        if not right_domain:
            yield self.finding(
                f"{box.address}: tên miền phải là / the domain must be {' hoặc / or '.join(domains)}; "
                f"nên là / expected {suggested}",
                aspect=box.kind,
            )
        else:
            yield self.finding(f"{box.address}: nên là / expected {suggested}", aspect=box.kind)
