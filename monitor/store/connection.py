"""One connection as the store uses it: statements in autocommit, writes in explicit transactions.

Two back ends behind one interface: ``SqliteDatabase`` (the embedded default, one machine) and
``PostgresDatabase`` (monitor/store/postgres.py: several nodes sharing one server). The topic classes
write their SQL once, in the subset both engines run the same way — ``?`` placeholders,
``ON CONFLICT`` upserts, ``RETURNING``, target columns qualified by their table in an upsert's
``DO UPDATE`` — and ask the connection for the few expressions that differ (``epoch``,
``string_agg``, ``greatest``, ``json_items``, ``day_at_offset``). The columns named ``user`` and
``offset`` are written quoted: both words are reserved in PostgreSQL.

Every SQLite write transaction starts with ``BEGIN IMMEDIATE``. A deferred ``BEGIN`` takes the write
lock only at its first write; in WAL mode, if another connection wrote in between, SQLite cannot
upgrade the read snapshot and fails at once with "database is locked", without ever calling the busy
handler. ``BEGIN IMMEDIATE`` asks for the write lock first, and that request waits up to the busy
timeout (``[storage] lock_timeout_seconds``) for another writer to finish. SQLite thus runs one
write transaction at a time; PostgreSQL runs them side by side, so a transaction that reads and then
writes on what it read (a sender's sending windows) serialises itself with ``lock(key)``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]

DEFAULT_LOCK_TIMEOUT = 5.0


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database:
    """What the topic classes use; a back end provides ``execute``, ``executemany``, the transactions
    and the dialect's expressions."""

    dialect = ""

    def close(self) -> None:
        raise NotImplementedError

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Params]) -> Cursor:
        raise NotImplementedError

    @contextmanager
    def write(self) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover

    @contextmanager
    def read(self) -> Iterator[None]:
        raise NotImplementedError
        yield  # pragma: no cover

    def lock(self, key: str) -> None:
        """Inside ``write()``: wait until no other transaction holds ``key``, hold it until commit."""

    def table_exists(self, name: str) -> bool:
        raise NotImplementedError

    def ddl(self, sql: str) -> str:
        """A ``CREATE TABLE`` written for SQLite, as this back end spells it."""
        return sql

    # -- the expressions that differ ------------------------------------------------------------
    def epoch(self, expr: str) -> str:
        """Unix seconds (an integer) of an ISO 8601 text."""
        raise NotImplementedError

    def string_agg(self, expr: str, sep: str, order: str = "") -> str:
        """The group's non-null values joined by ``sep`` (a literal), in ``order`` when given."""
        raise NotImplementedError

    def greatest(self, a: str, b: str) -> str:
        raise NotImplementedError

    def json_items(self, expr: str, alias: str) -> str:
        """A FROM item with the elements of a JSON list as ``alias.value`` (text)."""
        raise NotImplementedError

    def day_at_offset(self, expr: str) -> str:
        """The date (YYYY-MM-DD) of an ISO 8601 text moved by a parameter in minutes ("+420 minutes")."""
        raise NotImplementedError

    # -- built on execute -----------------------------------------------------------------------
    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cursor: Any = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an ``INSERT … RETURNING id`` and give the new row's id."""
        row = self.execute(sql, params).fetchone()
        assert row is not None
        return int(row[0])


class SqliteDatabase(Database):
    """A SQLite connection in autocommit mode, with ``write()`` and ``read()`` transactions."""

    dialect = "sqlite"

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

    def table_exists(self, name: str) -> bool:
        return self.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None

    def epoch(self, expr: str) -> str:
        return f"unixepoch({expr})"

    def string_agg(self, expr: str, sep: str, order: str = "") -> str:
        # group_concat joins in the order the rows come; the callers that need an order read them so.
        return f"group_concat({expr}, '{sep}')"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def json_items(self, expr: str, alias: str) -> str:
        return f"json_each({expr}) {alias}"

    def day_at_offset(self, expr: str) -> str:
        return f"date({expr}, ?)"


def is_locked(error: BaseException) -> bool:
    """True for the errors a later retry can cure: another writer held the lock past the timeout, or
    (PostgreSQL) a conflict or a lost connection."""
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    from monitor.store.postgres import is_transient

    return is_transient(error)
