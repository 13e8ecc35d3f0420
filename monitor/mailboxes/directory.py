"""The directory of units and mailboxes, imported from CSV.

`units.csv`: unit,name,parent,it_contact (it_contact: addresses separated by ';'), and optionally
head,head_since,box_holder,box_holder_since: the unit's head and the person holding its unit box, and
since when (a date; empty: the import's time). A new name starts the unit-handover rule's clock.
`mailboxes.csv`: address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb, and
optionally password_reset_at (the last reset by the IT department, when not recorded by
`mailmon requests`).
Bad rows are reported with their line numbers and skipped; good rows are upserted in one
transaction, so an import is idempotent and never half-applied.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from monitor.store import Store

KINDS = ("personal", "unit", "agency", "admin")
STATUSES = ("active", "suspended", "departed", "removed")
UNIT_COLUMNS = ("unit", "name", "parent", "it_contact")
# Optional: (person column, its since column, the role it records).
PEOPLE_COLUMNS = (("head", "head_since", "head"), ("box_holder", "box_holder_since", "holder"))
MAILBOX_COLUMNS = (
    "address",
    "display_name",
    "unit",
    "kind",
    "status",
    "created_at",
    "password_changed_at",
    "quota_mb",
)
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass
class ImportReport:
    units: int = 0
    mailboxes: int = 0
    people_changed: int = 0  # heads and box holders who differ from the ones recorded before
    errors: list[str] = field(default_factory=list)


def _date(value: str, column: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{column}: not an ISO 8601 date ({value!r})") from exc
    return parsed.isoformat()


def _rows(path: Path, columns: tuple[str, ...], report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                report.errors.append(f"{path.name}:1: missing columns {', '.join(missing)}")
                return
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        report.errors.append(f"{path.name}: cannot read: {exc}")


def parse_unit(row: dict[str, str]) -> dict[str, Any]:
    if not row["unit"]:
        raise ValueError("unit: empty")
    contacts = [a.strip() for a in row["it_contact"].split(";") if a.strip()]
    bad = [a for a in contacts if not _ADDRESS.match(a)]
    if bad:
        raise ValueError(f"it_contact: not an address: {', '.join(bad)}")
    unit = {
        "unit": row["unit"],
        "name": row["name"],
        "parent": row["parent"] or None,
        "it_contact": json.dumps(contacts),
    }
    for person, since, _role in PEOPLE_COLUMNS:
        unit[person] = row.get(person, "")
        unit[since] = _date(row.get(since, ""), since)
        if unit[since] and not unit[person]:
            raise ValueError(f"{since}: given without {person}")
    return unit


def parse_mailbox(row: dict[str, str], known_units: set[str]) -> dict[str, Any]:
    address = row["address"].lower()
    if not _ADDRESS.match(address):
        raise ValueError(f"address: not an e-mail address ({row['address']!r})")
    if row["kind"] not in KINDS:
        raise ValueError(f"kind: {row['kind']!r} is not one of {', '.join(KINDS)}")
    if row["status"] not in STATUSES:
        raise ValueError(f"status: {row['status']!r} is not one of {', '.join(STATUSES)}")
    if row["unit"] not in known_units:
        raise ValueError(f"unit: {row['unit']!r} is not in units.csv nor in the directory")
    quota: int | None = None
    if row["quota_mb"]:
        try:
            quota = int(row["quota_mb"])
        except ValueError as exc:
            raise ValueError(f"quota_mb: not a whole number ({row['quota_mb']!r})") from exc
        if quota <= 0:
            raise ValueError("quota_mb: must be positive")
    return {
        "address": address,
        "display_name": row["display_name"],
        "unit": row["unit"],
        "kind": row["kind"],
        "status": row["status"],
        "created_at": _date(row["created_at"], "created_at"),
        "password_changed_at": _date(row["password_changed_at"], "password_changed_at"),
        "quota_mb": quota,
        "password_reset_at": _date(row.get("password_reset_at", ""), "password_reset_at"),
    }


def import_csv(store: Store, units_csv: Path, mailboxes_csv: Path) -> ImportReport:
    """Validate both files, then upsert every good row in one transaction."""
    report = ImportReport()
    units: list[dict[str, Any]] = []
    for line, row in _rows(units_csv, UNIT_COLUMNS, report):
        try:
            units.append(parse_unit(row))
        except ValueError as exc:
            report.errors.append(f"{units_csv.name}:{line}: {exc}")
    known = {u["unit"] for u in units} | store.mailboxes.unit_ids()
    mailboxes: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row in _rows(mailboxes_csv, MAILBOX_COLUMNS, report):
        try:
            mailbox = parse_mailbox(row, known)
        except ValueError as exc:
            report.errors.append(f"{mailboxes_csv.name}:{line}: {exc}")
            continue
        if mailbox["address"] in seen:
            report.errors.append(f"{mailboxes_csv.name}:{line}: address {mailbox['address']} is listed twice")
            continue
        seen.add(mailbox["address"])
        mailboxes.append(mailbox)
    people = {
        (u["unit"], role): (u[person], u[since]) for u in units for person, since, role in PEOPLE_COLUMNS if u[person]
    }
    unit_rows = [{k: v for k, v in u.items() if k in UNIT_COLUMNS} for u in units]
    with store.transaction():  # the directory and who heads each unit, never half-applied
        store.mailboxes.import_directory(unit_rows, mailboxes)
        report.people_changed = store.unit_people.record(people)
    report.units, report.mailboxes = len(units), len(mailboxes)
    return report


def it_contacts(store: Store, unit: str) -> list[str]:
    found = store.mailboxes.unit(unit)
    return list(found.it_contacts) if found else []
