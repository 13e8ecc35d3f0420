"""The console's own records: sessions, sign-in attempts (the rate limits survive a restart) and the
audit trail of every action taken in it.

A session row is keyed by the SHA-256 of the cookie's random value, so reading the database gives no
usable cookie. Times are ISO 8601 in UTC, as everywhere in the store.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from monitor.store.connection import Database
from monitor.store.console import PAGE


@dataclass(frozen=True)
class SessionRow:
    address: str
    csrf: str
    created_at: str
    last_seen: str


class ConsoleRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- sessions --------------------------------------------------------------------------
    def open_session(self, key: str, address: str, csrf: str, now: str, client: str) -> None:
        with self._db.write():
            self._db.execute(
                "INSERT INTO console_sessions (id, address, csrf, created_at, last_seen, client) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, address, csrf, now, now, client),
            )

    def session(self, key: str) -> SessionRow | None:
        row = self._db.execute(
            "SELECT address, csrf, created_at, last_seen FROM console_sessions WHERE id = ?", (key,)
        ).fetchone()
        return None if row is None else SessionRow(*row)

    def touch_session(self, key: str, now: str) -> None:
        with self._db.write():
            self._db.execute("UPDATE console_sessions SET last_seen = ? WHERE id = ?", (now, key))

    def close_session(self, key: str) -> None:
        with self._db.write():
            self._db.execute("DELETE FROM console_sessions WHERE id = ?", (key,))

    def forget_old(self, idle_before: str, created_before: str, attempts_before: str) -> None:
        """Sessions past their idle or absolute expiry, and sign-in attempts older than any window."""
        with self._db.write():
            self._db.execute(
                "DELETE FROM console_sessions WHERE last_seen < ? OR created_at < ?", (idle_before, created_before)
            )
            self._db.execute("DELETE FROM signin_attempts WHERE time < ?", (attempts_before,))

    # -- sign-in attempts ------------------------------------------------------------------
    def record_attempt(self, now: str, address: str, client: str, outcome: str) -> None:
        with self._db.write():
            self._db.execute(
                "INSERT INTO signin_attempts (time, address, client, outcome) VALUES (?, ?, ?, ?)",
                (now, address, client, outcome),
            )

    def failures_since(self, since: str, *, address: str | None = None, client: str | None = None) -> int:
        """Wrong passwords since ``since`` for one address or client."""
        if address is not None:
            sql, key = (
                "SELECT count(*) FROM signin_attempts WHERE address = ? AND time >= ? AND outcome = 'failed'",
                address,
            )
        elif client is not None:
            sql, key = (
                "SELECT count(*) FROM signin_attempts WHERE client = ? AND time >= ? AND outcome = 'failed'",
                client,
            )
        else:
            raise ValueError("failures_since needs an address or a client")
        row = self._db.execute(sql, (key, since)).fetchone()
        return int(row[0])

    # -- the audit trail -------------------------------------------------------------------
    def record_action(
        self, now: str, who: str, action: str, target: str, units: Collection[str], why: str, result: str
    ) -> int:
        with self._db.write():
            return self._db.insert(
                "INSERT INTO console_actions (time, who, action, target, units, why, result) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (now, who, action, target, json.dumps(sorted(units), ensure_ascii=False), why, result),
            )

    def actions_page(
        self, units: Collection[str] | None, *, before: int | None = None, limit: int = PAGE
    ) -> list[dict[str, Any]]:
        """Actions newest first; for a set of units, those on their messages, senders and mailboxes."""
        clauses: list[str] = []
        args: list[object] = []
        if before is not None:
            clauses.append("a.id < ?")
            args.append(before)
        if units is not None:
            marks = ", ".join("?" * len(units))
            clauses.append(f"EXISTS (SELECT 1 FROM {self._db.json_items('a.units', 'u')} WHERE u.value IN ({marks}))")  # noqa: S608
            args += list(units)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.dicts(
            f"SELECT a.id, a.time, a.who, a.action, a.target, a.units, a.why, a.result FROM console_actions a {where} "  # noqa: S608
            "ORDER BY a.id DESC LIMIT ?",
            (*args, limit),
        )
        for row in rows:
            row["units"] = json.loads(row["units"])
        return rows
