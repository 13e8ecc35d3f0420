"""Retention: old messages with their findings, old login events and days, and old sending events, deleted
in small slices."""

from __future__ import annotations

from monitor.store.connection import Database

# Rows deleted per write transaction: retention runs beside the filter, whose writes must not wait
# behind one long delete.
SLICE = 1000


class Retention:
    def __init__(self, db: Database) -> None:
        self._db = db

    def delete_records_before(self, cutoff: str) -> int:
        """Messages recorded before ``cutoff``, with their findings and concerns; returns messages deleted."""
        total = 0
        while True:
            with self._db.write():
                ids = [r[0] for r in self._db.all("SELECT id FROM messages WHERE time < ? LIMIT ?", (cutoff, SLICE))]
                if ids:
                    marks = ", ".join("?" * len(ids))
                    for sql in (
                        f"DELETE FROM concerns WHERE message IN ({marks})",  # noqa: S608 (placeholders only)
                        f"DELETE FROM findings WHERE message IN ({marks})",  # noqa: S608
                        f"DELETE FROM messages WHERE id IN ({marks})",  # noqa: S608
                    ):
                        self._db.execute(sql, ids)
            total += len(ids)
            if len(ids) < SLICE:
                return total

    def delete_logins_before(self, events_cutoff: str, days_cutoff: str) -> tuple[int, int]:
        """Login events before ``events_cutoff`` (they only keep a log read twice from counting twice;
        no log goes back that far) and per-day summaries of days before ``days_cutoff`` (YYYY-MM-DD);
        returns (events, days) deleted."""
        events = self._sliced(
            'DELETE FROM login_events WHERE id IN (SELECT id FROM login_events WHERE time < ? LIMIT ?)', events_cutoff
        )
        days = 0
        while True:
            with self._db.write():
                keys = self._db.all('SELECT day, "user" FROM login_days WHERE day < ? LIMIT ?', (days_cutoff, SLICE))
                self._db.executemany('DELETE FROM login_days WHERE day = ? AND "user" = ?', keys)
            days += len(keys)
            if len(keys) < SLICE:
                return events, days

    def _sliced(self, sql: str, cutoff: str) -> int:
        total = 0
        while True:
            with self._db.write():
                deleted = self._db.execute(sql, (cutoff, SLICE)).rowcount
            total += deleted
            if deleted < SLICE:
                return total

    def delete_send_events_before(self, cutoff: str) -> int:
        """Sending events before ``cutoff`` (the windows look back a day at most)."""
        return self._sliced(
            "DELETE FROM send_events WHERE id IN (SELECT id FROM send_events WHERE time < ? LIMIT ?)", cutoff
        )
