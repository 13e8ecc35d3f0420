"""Releases from the quarantine, recorded: which message, who, why, from which status, Postfix's reply."""

from __future__ import annotations

from typing import Any

from monitor.store.connection import Database
from monitor.store.records import utcnow


class Releases:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, quarantine_id: str, who: str, why: str, was: str, reply: str) -> None:
        with self._db.write():
            self._db.execute(
                "INSERT INTO quarantine_releases (quarantine_id, time, who, why, was, reply) VALUES (?, ?, ?, ?, ?, ?)",
                (quarantine_id, utcnow(), who, why, was, reply),
            )

    def of(self, quarantine_id: str) -> list[dict[str, Any]]:
        """Every release of one entry, oldest first."""
        return self._db.dicts("SELECT * FROM quarantine_releases WHERE quarantine_id = ? ORDER BY id", (quarantine_id,))
