"""One SQLite connection as the store uses it: statements in autocommit, writes in explicit transactions.

Every write transaction starts with ``BEGIN IMMEDIATE``. A deferred ``BEGIN`` takes the write lock
only at its first write; in WAL mode, if another connection wrote in between, SQLite cannot upgrade
the read snapshot and fails at once with "database is locked", without ever calling the busy
handler. ``BEGIN IMMEDIATE`` asks for the write lock first, and that request waits up to the busy
timeout (``[storage] lock_timeout_seconds``) for another writer to finish.

Statements use ``?`` placeholders, ``ON CONFLICT`` upserts and no SQLite-only syntax where a
portable form exists, so that another DB-API back end can run them with little translation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Params = Sequence[Any] | dict[str, Any]

DEFAULT_LOCK_TIMEOUT = 5.0


class Database:
    """A connection in autocommit mode, with ``write()`` and ``read()`` transactions."""

    def __init__(self, path: Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        # isolation_level=None: the sqlite3 module never opens a transaction behind our back.
        self.conn = sqlite3.connect(path, timeout=lock_timeout, isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params).fetchall())

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def changes(self) -> int:
        return self.conn.total_changes

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction that waits for the lock; nested calls join the outer one."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[None]:
        """Several reads from one snapshot (WAL: never waits for a writer)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")


def is_locked(error: BaseException) -> bool:
    """True for the errors a later retry can cure: another writer held the lock past the timeout."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    text = str(error).lower()
    return "locked" in text or "busy" in text
