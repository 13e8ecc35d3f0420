"""The alert outbox (mail waiting for the relay) and the alerting's own bookkeeping: which finding was
alerted when, and how far the findings were read."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.store.connection import Database

_OUTBOX_COLUMNS = (
    "created_at",
    "kind",
    "unit",
    "dedup_key",
    "to_addrs",
    "subject",
    "text",
    "html",
    "message_id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
)
_SET_ALERTED = (
    "INSERT INTO alert_keys (key, unit, alerted_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET unit = excluded.unit, alerted_at = excluded.alerted_at"
)
_SET_CURSOR = (
    "INSERT INTO alert_cursor (name, last_id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id"
)


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- mail ------------------------------------------------------------------------------------------
    def enqueue(self, row: Mapping[str, Any], dedup_since: str | None = None) -> int | None:
        """Queue one mail (outbox columns; ``to_addrs`` a list); None, and nothing queued, if a mail with the
        same non-empty dedup key was queued after ``dedup_since``."""
        with self._db.write():
            if row.get("dedup_key") and dedup_since is not None:
                seen = self._db.one(
                    "SELECT 1 FROM alert_outbox WHERE dedup_key = ? AND created_at > ? LIMIT 1",
                    (row["dedup_key"], dedup_since),
                )
                if seen:
                    return None
            values = {**row, "to_addrs": json.dumps(list(row["to_addrs"]))}
            return self._db.insert(
                f"INSERT INTO alert_outbox ({', '.join(_OUTBOX_COLUMNS)}) "  # noqa: S608 (fixed names)
                f"VALUES ({', '.join('?' * len(_OUTBOX_COLUMNS))}) RETURNING id",
                [values.get(c) for c in _OUTBOX_COLUMNS],
            )

    def mails(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every mail (or those with ``status``) in the order queued; ``to_addrs`` decoded."""
        if status is None:
            rows = self._db.dicts("SELECT * FROM alert_outbox ORDER BY id")
        else:
            rows = self._db.dicts("SELECT * FROM alert_outbox WHERE status = ? ORDER BY id", (status,))
        for row in rows:
            row["to_addrs"] = json.loads(row["to_addrs"])
        return rows

    def due(self, now: str, limit: int = 100) -> list[dict[str, Any]]:
        """Pending mails whose next attempt is due, oldest attempt first (``to_addrs`` left as JSON)."""
        return self._db.dicts(
            "SELECT * FROM alert_outbox WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, id LIMIT ?",
            (now, limit),
        )

    def record_attempts(
        self,
        results: Sequence[tuple[int, str, str]],
        now: str,
        next_attempt: Callable[[int], str],
        max_attempts: int | None = None,
    ) -> list[int]:
        """Count one more attempt for each (mail id, outcome, error): 'sent' and 'failed' are final,
        'deferred' tries again at ``next_attempt(attempts so far)``, unless that makes ``max_attempts``:
        then the mail is given up on (the dead-letter state 'failed'). All in one transaction; returns
        the ids of the deferred mails given up on."""
        given_up = []
        with self._db.write():
            for mail_id, outcome, error in results:
                row = self._db.one("SELECT attempts FROM alert_outbox WHERE id = ?", (mail_id,))
                if row is None:
                    continue
                attempts = int(row[0]) + 1
                if outcome == "deferred" and max_attempts is not None and attempts >= max_attempts:
                    outcome, error = "failed", f"gave up after {attempts} attempts: {error}"
                    given_up.append(mail_id)
                if outcome == "sent":
                    self._db.execute(
                        "UPDATE alert_outbox SET attempts = ?, last_error = ?, status = 'sent', sent_at = ? "
                        "WHERE id = ?",
                        (attempts, error, now, mail_id),
                    )
                elif outcome == "failed":
                    self._db.execute(
                        "UPDATE alert_outbox SET attempts = ?, last_error = ?, status = 'failed' WHERE id = ?",
                        (attempts, error, mail_id),
                    )
                else:
                    self._db.execute(
                        "UPDATE alert_outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                        (attempts, error, next_attempt(attempts), mail_id),
                    )
        return given_up

    def pending_totals(self) -> tuple[int, str | None]:
        """(mails waiting, creation time of the oldest)."""
        row = self._db.one("SELECT count(*), min(created_at) FROM alert_outbox WHERE status = 'pending'")
        return (int(row[0]), row[1]) if row else (0, None)

    def dead_letters(self) -> int:
        """Mails given up on (status 'failed': refused for good, or out of attempts)."""
        row = self._db.one("SELECT count(*) FROM alert_outbox WHERE status = 'failed'")
        return int(row[0]) if row else 0

    # -- alerting bookkeeping --------------------------------------------------------------------------
    def alerted_at(self, key: str) -> str | None:
        row = self._db.one("SELECT alerted_at FROM alert_keys WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def set_alerted(self, key: str, unit: str, when: str) -> None:
        with self._db.write():
            self._db.execute(_SET_ALERTED, (key, unit, when))

    def cursor(self, name: str) -> int | None:
        """How far the alerting named ``name`` has read the findings (None: never ran)."""
        row = self._db.one("SELECT last_id FROM alert_cursor WHERE name = ?", (name,))
        return int(row[0]) if row else None

    def set_cursor(self, name: str, last_id: int) -> None:
        with self._db.write():
            self._db.execute(_SET_CURSOR, (name, last_id))
