"""The SQLite store (sqlite-utils): findings, filtered messages and the quarantine index.

The schema is versioned with sqlite-utils migrations; WAL with synchronous=NORMAL. One connection
is owned by one thread: ``AsyncStore`` runs every call on a single-thread executor so blocking
SQLite work never runs on the event loop (DEPS.md §7).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from monitor.store.files import private_dir, private_file
from monitor.store.migrations import ADD_LOGIN_DAYS, INSERT_LOGIN_EVENT, migrations

T = TypeVar("T")

def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Synchronous store; use from one thread only (or through AsyncStore)."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self.path = path
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        migrations.apply(self.db)
        self.db.execute("PRAGMA synchronous = NORMAL")
        for name in (path.name, path.name + "-wal", path.name + "-shm"):  # 0600 whatever the umask was
            private_file(path.with_name(name))

    def close(self) -> None:
        self.db.close()

    def record_message(self, row: Mapping[str, Any], findings: Iterable[Mapping[str, Any]]) -> int:
        """One filtered message and its findings, in one transaction; returns the message row id."""
        message = {**row, "rcpt_tos": json.dumps(list(row.get("rcpt_tos", ())))}
        message.setdefault("time", utcnow())
        with self.db.atomic():
            last_pk = self.db.table("messages").insert(message).last_pk
            assert isinstance(last_pk, int)
            message_pk = last_pk
            common = {
                k: message.get(k) for k in ("time", "message_id", "queue_id", "mail_from", "rcpt_tos", "direction")
            }
            self.db.table("findings").insert_all({**common, **f, "message": message_pk} for f in findings)
        return message_pk

    def record_login_events(self, events: Iterable[Sequence[object]]) -> int:
        """Store login events (time, user, protocol, kind, attempts, rip, session, master), skipping
        those already stored, and add the new ones to login_days; returns how many were new.

        Call inside a transaction, with whatever marks the events as read (a log position).
        """
        conn = self.db.conn
        last_id = conn.execute("SELECT coalesce(max(id), 0) FROM login_events").fetchone()[0]
        before = conn.total_changes
        conn.executemany(INSERT_LOGIN_EVENT, events)
        new = conn.total_changes - before
        if new:
            conn.execute(ADD_LOGIN_DAYS, [last_id])
        return new

    def add_quarantine(self, row: Mapping[str, Any]) -> None:
        table = self.db.table("quarantine")
        columns = {c.name for c in table.columns}
        entry = {k: v for k, v in row.items() if k in columns}
        entry["rcpt_tos"] = json.dumps(list(row.get("rcpt_tos", ())))
        entry.setdefault("time", utcnow())
        entry.setdefault("status", "held")
        parties = {a.lower() for a in (row.get("mail_from") or "", *row.get("rcpt_tos", ())) if a}
        with self.db.atomic():
            table.insert(entry)
            # Who the message is from and to: the console shows it to those mailboxes' units.
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO quarantine_parties (quarantine_id, address) VALUES (?, ?)",
                [(entry["id"], a) for a in sorted(parties)],
            )

    def link_quarantine(self, qid: str | None, message: int) -> None:
        """The quarantine entry ``qid`` (if any) is of the recorded message ``message`` (its findings)."""
        if qid is not None:
            with self.db.atomic():
                self.db.conn.execute("UPDATE quarantine SET message = ? WHERE id = ?", (message, qid))

    def quarantine(self, status: str | None = "held") -> list[dict[str, Any]]:
        where, args = ("status = ?", [status]) if status else (None, [])
        return [_decode(r) for r in self.db.table("quarantine").rows_where(where, args, order_by="time")]

    def quarantine_entry(self, qid: str) -> dict[str, Any] | None:
        rows = list(self.db.table("quarantine").rows_where("id = ?", [qid]))
        return _decode(rows[0]) if rows else None

    def set_quarantine_status(self, qid: str, status: str) -> None:
        self.db.table("quarantine").update(qid, {"status": status})

    def record_worker_failure(self, key: str, reason: str, keep_days: int = 7) -> int:
        """Count one more worker failure on the message ``key``; how many there have been.

        Rows older than ``keep_days`` (longer than Postfix keeps a message queued) are dropped.
        """
        now = utcnow()
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM worker_failures WHERE last_seen < datetime('now', ?)", [f"-{int(keep_days)} days"]
            )
            self.db.execute(
                "INSERT INTO worker_failures (key, first_seen, last_seen, failures, reason) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen, failures = failures + 1, "
                "reason = excluded.reason",
                [key, now, now, reason],
            )
            row = self.db.execute("SELECT failures FROM worker_failures WHERE key = ?", [key]).fetchone()
        return int(row[0])

    def findings(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.table("findings").rows_where(order_by="id desc", limit=limit)
        return [_decode(r) for r in rows]

    def messages(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.db.table("messages").rows_where(order_by="id desc", limit=limit)
        return [_decode(r) for r in rows]


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("rcpt_tos"), str):
        row["rcpt_tos"] = json.loads(row["rcpt_tos"])
    return row


class AsyncStore:
    """The Store behind one thread, awaitable from the event loop."""

    def __init__(self, path: Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailmon-store")
        self._store: Store | None = None
        self._path = path

    async def open(self) -> None:
        self._store = await self._run(lambda: Store(self._path))

    async def call(self, fn: Callable[[Store], T]) -> T:
        store = self._store
        if store is None:
            raise RuntimeError("AsyncStore.open() was not awaited")
        return await self._run(lambda: fn(store))

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await self._run(store.close)
        self._executor.shutdown(wait=True)
