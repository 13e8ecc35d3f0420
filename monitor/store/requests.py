"""The store's IT requests: a unit's request to create, change, reset, close or restore a mailbox, and
its completion (``mailmon requests``). Times are ISO 8601 with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.store.connection import Database
from monitor.store.records import utcnow


class Requests:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, kind: str, mailbox: str, unit: str, requested_at: datetime, note: str = "") -> int:
        """Record a request; returns its number."""
        with self._db.write():
            return self._db.insert(
                "INSERT INTO it_requests (kind, mailbox, unit, requested_at, note, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (kind, mailbox.lower(), unit, requested_at.isoformat(timespec="seconds"), note, utcnow()),
            )

    def get(self, request_id: int) -> dict[str, Any] | None:
        rows = self._db.dicts("SELECT * FROM it_requests WHERE id = ?", (request_id,))
        return rows[0] if rows else None

    def complete(self, request_id: int, completed_at: datetime, note: str = "") -> dict[str, Any] | None:
        """Mark a request done; returns the row as it was before, or None when there is no such request."""
        with self._db.write():
            before = self.get(request_id)
            if before is None:
                return None
            if note:
                note = f"{before['note']}; {note}" if before["note"] else note
            self._db.execute(
                "UPDATE it_requests SET completed_at = ?, note = ? WHERE id = ?",
                (completed_at.isoformat(timespec="seconds"), note or before["note"], request_id),
            )
        return before

    def listed(self, unit: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        """Requests in the order they were made, optionally one unit's, optionally only those not done."""
        clauses, args = [], []
        if unit:
            clauses.append("unit = ?")
            args.append(unit)
        if open_only:
            clauses.append("completed_at IS NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._db.dicts(f"SELECT * FROM it_requests {where} ORDER BY requested_at, id", args)  # noqa: S608

    def last_resets(self) -> dict[str, str]:
        """Per mailbox, when the IT department last completed a password reset."""
        rows = self._db.all(
            "SELECT mailbox, max(completed_at) FROM it_requests "
            "WHERE kind = 'reset' AND completed_at IS NOT NULL GROUP BY mailbox"
        )
        return {r[0]: r[1] for r in rows}
