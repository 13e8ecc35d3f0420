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
from sqlite_utils import Migrations

T = TypeVar("T")

migrations = Migrations("mailmon")


@migrations(name="0001_enable_wal", transactional=False)
def _m1_wal(db: sqlite_utils.Database) -> None:
    db.enable_wal()


@migrations(name="0002_messages_findings_quarantine")
def _m2_tables(db: sqlite_utils.Database) -> None:
    db.table("messages").create(
        {
            "id": int,
            "time": str,
            "message_id": str,
            "queue_id": str,
            "client_addr": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "size": int,
            "verdict": str,
            "outcome": str,
            "seconds": float,
        },
        pk="id",
    )
    db.table("findings").create(
        {
            "id": int,
            "message": int,
            "time": str,
            "message_id": str,
            "queue_id": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "rule": str,
            "severity": str,
            "action": str,
            "detail": str,
            "citation": str,
        },
        pk="id",
        foreign_keys=[("message", "messages", "id")],
    )
    db.table("findings").create_index(["time"])
    db.table("findings").create_index(["rule", "time"])
    db.table("quarantine").create(
        {
            "id": str,
            "time": str,
            "message": int,
            "message_id": str,
            "queue_id": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "verdict": str,
            "reason": str,
            "path": str,
            "size": int,
            "sha256": str,
            "status": str,
        },
        pk="id",
    )
    db.table("quarantine").create_index(["status", "time"])


@migrations(name="0003_directory_activity")
def _m3_directory_activity(db: sqlite_utils.Database) -> None:
    db.table("units").create({"unit": str, "name": str, "parent": str, "it_contact": str, "updated": str}, pk="unit")
    db.table("mailboxes").create(
        {
            "address": str,
            "display_name": str,
            "unit": str,
            "kind": str,
            "status": str,
            "created_at": str,
            "password_changed_at": str,
            "quota_mb": int,
            "updated": str,
        },
        pk="address",
    )
    db.table("mailboxes").create_index(["unit"])
    db.table("login_events").create(
        {
            "id": int,
            "time": str,
            "user": str,
            "protocol": str,
            "kind": str,
            "attempts": int,
            "rip": str,
            "session": str,
            "master": int,
        },
        pk="id",
    )
    db.table("login_events").create_index(["kind", "session"], unique=True)
    db.table("login_events").create_index(["user", "time"])
    db.table("log_positions").create({"fingerprint": str, "path": str, "offset": int, "updated": str}, pk="fingerprint")
    db.table("last_login").create({"user": str, "time": str, "source": str}, pk="user")


@migrations(name="0004_mailbox_status")
def _m4_mailbox_status(db: sqlite_utils.Database) -> None:
    db.table("mailbox_status").create(
        {
            "address": str,
            "polled_at": str,
            "quota_used_bytes": int,
            "quota_limit_bytes": int,
            "inbox_messages": int,
            "oldest_unseen": str,
            "sieve_forwards": str,
            "error": str,
        },
        pk="address",
    )
    db.table("mailbox_history").create({"address": str, "status": str, "since": str}, pk=("address", "status"))


@migrations(name="0005_send_windows")
def _m5_send_windows(db: sqlite_utils.Database) -> None:
    # One row per outbound message and recipient: the sliding windows are counted from these, so
    # several filter nodes sharing one store (PostgreSQL later) see the same windows.
    db.table("send_events").create(
        {"id": int, "sender": str, "time": str, "rcpt": str, "external": int, "message_id": str}, pk="id"
    )
    db.table("send_events").create_index(["sender", "time"])
    db.table("held_senders").create(
        {"sender": str, "since": str, "until": str, "reason": str, "released_at": str}, pk="sender"
    )


# The owner's (not the master user's) login events of each user and local day, kept at ingest so the
# account rules read one row per active user-day: instants as Unix seconds with the source address
# at the same position in its column, appended per batch in no particular order.
_ADD_LOGIN_DAYS = """
INSERT INTO login_days (day, user, logins, login_sources, failures, failure_sources, last_login, latest)
SELECT substr(time, 1, 10), user,
       group_concat(CASE WHEN kind = 'login' THEN unixepoch(time) END),
       group_concat(CASE WHEN kind = 'login' THEN rip END),
       group_concat(CASE WHEN kind = 'auth-failed' THEN unixepoch(time) END),
       group_concat(CASE WHEN kind = 'auth-failed' THEN rip END),
       max(CASE WHEN kind = 'login' THEN time END), max(unixepoch(time))
FROM login_events WHERE id > ? AND master = 0 GROUP BY 1, 2
ON CONFLICT (day, user) DO UPDATE SET
    logins = coalesce(logins || ',' || excluded.logins, logins, excluded.logins),
    login_sources = coalesce(login_sources || ',' || excluded.login_sources, login_sources, excluded.login_sources),
    failures = coalesce(failures || ',' || excluded.failures, failures, excluded.failures),
    failure_sources = coalesce(
        failure_sources || ',' || excluded.failure_sources, failure_sources, excluded.failure_sources
    ),
    last_login = CASE WHEN excluded.last_login > coalesce(last_login, '')
                      THEN excluded.last_login ELSE last_login END,
    latest = max(latest, excluded.latest)
"""
_INSERT_LOGIN_EVENT = (
    "INSERT OR IGNORE INTO login_events (time, user, protocol, kind, attempts, rip, session, master) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@migrations(name="0006_login_days")
def _m6_login_days(db: sqlite_utils.Database) -> None:
    # An event is the same event when its time, kind and session are: that unique index grows at its
    # end as the log does, where the (kind, session) one took a random insert per event; the account
    # rules read login_days instead of (user, time).
    db.execute("DROP INDEX idx_login_events_kind_session")
    db.execute("DROP INDEX idx_login_events_user_time")
    db.table("login_events").create_index(["time", "kind", "session"], unique=True)
    db.execute(
        "CREATE TABLE login_days (day TEXT NOT NULL, user TEXT NOT NULL, logins TEXT, login_sources TEXT, "
        "failures TEXT, failure_sources TEXT, last_login TEXT, latest INTEGER, PRIMARY KEY (day, user)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_login_days_user_last_login ON login_days (user, last_login)")
    db.execute(_ADD_LOGIN_DAYS, [0])


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Synchronous store; use from one thread only (or through AsyncStore)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA busy_timeout = 5000")
        migrations.apply(self.db)
        self.db.execute("PRAGMA synchronous = NORMAL")

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
        conn.executemany(_INSERT_LOGIN_EVENT, events)
        new = conn.total_changes - before
        if new:
            conn.execute(_ADD_LOGIN_DAYS, [last_id])
        return new

    def add_quarantine(self, row: Mapping[str, Any]) -> None:
        table = self.db.table("quarantine")
        columns = {c.name for c in table.columns}
        entry = {k: v for k, v in row.items() if k in columns}
        entry["rcpt_tos"] = json.dumps(list(row.get("rcpt_tos", ())))
        entry.setdefault("time", utcnow())
        entry.setdefault("status", "held")
        table.insert(entry)

    def quarantine(self, status: str | None = "held") -> list[dict[str, Any]]:
        where, args = ("status = ?", [status]) if status else (None, [])
        return [_decode(r) for r in self.db.table("quarantine").rows_where(where, args, order_by="time")]

    def quarantine_entry(self, qid: str) -> dict[str, Any] | None:
        rows = list(self.db.table("quarantine").rows_where("id = ?", [qid]))
        return _decode(rows[0]) if rows else None

    def set_quarantine_status(self, qid: str, status: str) -> None:
        self.db.table("quarantine").update(qid, {"status": status})

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
