"""The directory (units, mailboxes) and what sweeps found in each mailbox (status, history of states)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.store.connection import Database
from monitor.store.records import utcnow

_UPSERT_UNIT = (
    "INSERT INTO units (unit, name, parent, it_contact, updated) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (unit) DO UPDATE SET name = excluded.name, parent = excluded.parent, "
    "it_contact = excluded.it_contact, updated = excluded.updated"
)
_MAILBOX_COLUMNS = (
    "address",
    "display_name",
    "unit",
    "kind",
    "status",
    "created_at",
    "password_changed_at",
    "quota_mb",
    "password_reset_at",
)
_UPSERT_MAILBOX = (
    f"INSERT INTO mailboxes ({', '.join(_MAILBOX_COLUMNS)}, updated) "  # noqa: S608 (fixed names)
    f"VALUES ({', '.join('?' * (len(_MAILBOX_COLUMNS) + 1))}) "
    "ON CONFLICT (address) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_MAILBOX_COLUMNS[1:], "updated"))
)
_STATUS_COLUMNS = (
    "address",
    "polled_at",
    "quota_used_bytes",
    "quota_limit_bytes",
    "inbox_messages",
    "oldest_unseen",
    "sieve_forwards",
    "error",
)
_UPSERT_STATUS = (
    f"INSERT INTO mailbox_status ({', '.join(_STATUS_COLUMNS)}) VALUES ({', '.join('?' * 8)}) "  # noqa: S608
    "ON CONFLICT (address) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _STATUS_COLUMNS[1:])
)
# A sweep's results are written in slices: each write transaction stays short, so the filter's own
# writes (on another connection) never wait long for the lock.
SLICE = 200


@dataclass(frozen=True)
class Unit:
    unit: str
    name: str
    parent: str | None
    it_contacts: tuple[str, ...]


@dataclass(frozen=True)
class MailboxRow:
    address: str
    display_name: str | None
    unit: str | None
    kind: str
    status: str
    created_at: str | None
    password_changed_at: str | None
    quota_mb: int | None
    password_reset_at: str | None = None  # the last reset the directory knows of


class Mailboxes:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the directory ------------------------------------------------------------------------------
    def import_directory(self, units: Sequence[Mapping[str, Any]], mailboxes: Sequence[Mapping[str, Any]]) -> None:
        """Upsert units and mailboxes in one transaction (an import is never half-applied)."""
        now = utcnow()
        with self._db.write():
            self._db.executemany(
                _UPSERT_UNIT, [(u["unit"], u["name"], u.get("parent"), u["it_contact"], now) for u in units]
            )
            self._db.executemany(_UPSERT_MAILBOX, [(*(m.get(c) for c in _MAILBOX_COLUMNS), now) for m in mailboxes])

    def unit_ids(self) -> set[str]:
        return {r[0] for r in self._db.all("SELECT unit FROM units")}

    def units(self) -> list[Unit]:
        """Every unit, by id."""
        rows = self._db.all("SELECT unit, name, parent, it_contact FROM units ORDER BY unit")
        return [Unit(r[0], r[1] or r[0], r[2], tuple(json.loads(r[3] or "[]"))) for r in rows]

    def unit(self, unit: str) -> Unit | None:
        return next((u for u in self.units() if u.unit == unit), None)

    def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox of the directory, by address."""
        rows = self._db.all(f"SELECT {', '.join(_MAILBOX_COLUMNS)} FROM mailboxes ORDER BY address")  # noqa: S608
        return [MailboxRow(*r) for r in rows]

    def mailbox(self, address: str) -> MailboxRow | None:
        row = self._db.one(
            f"SELECT {', '.join(_MAILBOX_COLUMNS)} FROM mailboxes WHERE address = ?",  # noqa: S608 (fixed names)
            (address.lower(),),
        )
        return MailboxRow(*row) if row else None

    def kind_of(self, address: str) -> str | None:
        row = self._db.one("SELECT kind FROM mailboxes WHERE address = ?", (address.lower(),))
        return str(row[0]) if row else None

    def units_of(self, addresses: Iterable[str]) -> dict[str, str]:
        """address → unit for the addresses the directory knows (lower-case keys)."""
        wanted = sorted({a.lower() for a in addresses})
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        rows = self._db.all(
            f"SELECT address, unit FROM mailboxes WHERE address IN ({marks})",  # noqa: S608 (placeholders only)
            wanted,
        )
        return {r[0]: r[1] or "" for r in rows}

    def set_status(self, address: str, status: str) -> None:
        with self._db.write():
            self._db.execute("UPDATE mailboxes SET status = ? WHERE address = ?", (status, address.lower()))

    # -- states over time ----------------------------------------------------------------------------
    def record_status_changes(self, now: str) -> None:
        """Remember since when each mailbox has its directory status (for the departed deadline)."""
        with self._db.write():
            self._db.execute(
                # "WHERE true": an INSERT … SELECT with an upsert clause needs a WHERE (SQLite's parser).
                "INSERT INTO mailbox_history (address, status, since) SELECT address, status, ? FROM mailboxes "
                "WHERE true ON CONFLICT (address, status) DO NOTHING",
                (now,),
            )

    def status_history(self) -> dict[tuple[str, str], str]:
        """(address, status) → since when."""
        return {(r[0], r[1]): r[2] for r in self._db.all("SELECT address, status, since FROM mailbox_history")}

    # -- sweeps ----------------------------------------------------------------------------------------
    def to_sweep(self) -> list[str]:
        """Mailboxes a sweep reads: those still open (active or suspended), by address."""
        rows = self._db.all("SELECT address FROM mailboxes WHERE status IN ('active', 'suspended') ORDER BY address")
        return [r[0] for r in rows]

    def save_sweep(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Each swept mailbox's status (mailbox_status columns), in short transactions of SLICE rows."""
        for start in range(0, len(rows), SLICE):
            with self._db.write():
                self._db.executemany(
                    _UPSERT_STATUS, [tuple(r.get(c) for c in _STATUS_COLUMNS) for r in rows[start : start + SLICE]]
                )

    def swept(self) -> dict[str, dict[str, Any]]:
        """address → what the last sweep found (mailbox_status columns)."""
        return {r["address"]: r for r in self._db.dicts("SELECT * FROM mailbox_status")}

    def last_successful_poll(self) -> str | None:
        row = self._db.one("SELECT max(polled_at) FROM mailbox_status WHERE error IS NULL OR error = ''")
        return row[0] if row else None
