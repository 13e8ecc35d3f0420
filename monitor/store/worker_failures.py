"""Messages that outlived, killed or broke an evaluation worker, counted by a key stable across
Postfix's retries (the queue id, else the content's hash): the second failure decides the message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.store.connection import Database
from monitor.store.records import utcnow

_COUNT = (
    "INSERT INTO worker_failures (key, first_seen, last_seen, failures, reason) VALUES (?, ?, ?, 1, ?) "
    "ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen, failures = worker_failures.failures + 1, "
    "reason = excluded.reason"
)


class WorkerFailures:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, key: str, reason: str, keep_days: int = 7) -> int:
        """Count one more worker failure on the message ``key``; how many there have been.

        Rows older than ``keep_days`` (longer than Postfix keeps a message queued) are dropped.
        """
        now = utcnow()
        cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat(timespec="seconds")
        with self._db.write():
            self._db.execute("DELETE FROM worker_failures WHERE last_seen < ?", (cutoff,))
            self._db.execute(_COUNT, (key, now, now, reason))
            row = self._db.one("SELECT failures FROM worker_failures WHERE key = ?", (key,))
        assert row is not None
        return int(row[0])
