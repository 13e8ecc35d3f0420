"""Which store back end the suite runs on, where each test's store lives, and a second connection to it.

``MAILMON_TEST_STORE`` chooses the back end: unset or ``sqlite`` (a file in the test's directory)
or ``postgresql`` (a schema of its own in one database of one throwaway cluster per session,
started by the ``postgres_cluster`` fixture in tests/conftest.py). A schema per store rather than a
database: making one takes 2.5 ms instead of 13 ms, with the store's tables 47 ms instead of
73 ms, and adds 2 MB on disk instead of 12 MB (CREATE DATABASE copies the template).

The state lives here, not in conftest.py: test modules import ``tests.conftest`` while pytest loads
the same file as ``conftest``, so module globals there would exist twice.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from mailstack.postgres import PostgresCluster

ENV = "MAILMON_TEST_STORE"
BACKENDS = ("sqlite", "postgresql")
BACKEND = os.environ.get(ENV, "") or "sqlite"
if BACKEND not in BACKENDS:
    raise RuntimeError(f"{ENV}={BACKEND!r}: expected one of {', '.join(BACKENDS)}")
ON_POSTGRES = BACKEND == "postgresql"

DATABASE = "mailmon_test"  # the one database of a PostgreSQL run; each store is a schema in it
SQLITE_NAME = "mailmon.sqlite3"  # the file write_config() names in [storage] database

StoreTarget = Path | str  # what Store() and AsyncStore() take: a SQLite file or a postgresql:// URL

_cluster: PostgresCluster | None = None
_targets: dict[tuple[Path, str], str] = {}


def use_cluster(cluster: PostgresCluster | None) -> None:
    """Set (at the start of a PostgreSQL run) or clear (at its end) the cluster the stores live in."""
    global _cluster
    _cluster = cluster
    _targets.clear()
    if cluster is not None:
        cluster.create_database(DATABASE)


def store_target_for(directory: Path, name: str = "mailmon") -> StoreTarget:
    """The store of ``directory``: ``directory/<name>.sqlite3``, or on a PostgreSQL run the URL of a
    schema made for (``directory``, ``name``) on first use — the same one every time after, so a
    test, its config file (write_config) and the processes it starts all see one store."""
    if not ON_POSTGRES:
        return directory / (SQLITE_NAME if name == "mailmon" else f"{name}.sqlite3")
    if _cluster is None:
        raise RuntimeError(f"{ENV}=postgresql but no PostgreSQL cluster is running (the postgres_cluster fixture)")
    key = (directory.resolve(), name)
    if key not in _targets:
        _targets[key] = _cluster.create_schema(DATABASE, f"store_{len(_targets) + 1}")
    return _targets[key]


class Tables:
    """A second connection to a store's database, for a test to look at (or set up) rows directly.

    The same calls on both back ends: SQL with ``?`` placeholders (turned into psycopg's ``%s``),
    rows as dicts. Keep the SQL portable: quote the columns ``"user"`` and ``"offset"`` (reserved
    words in PostgreSQL), no SQLite-only functions. Each call opens and closes its own connection
    and commits at once, so nothing is left open to block the store under test.
    """

    def __init__(self, target: StoreTarget) -> None:
        self.target = target

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        if isinstance(self.target, Path):
            conn = sqlite3.connect(self.target, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            try:
                yield conn.cursor()
            finally:
                conn.close()
        else:
            with psycopg.connect(self.target, autocommit=True, row_factory=dict_row) as pg:
                yield pg.cursor()

    def _execute(self, cur: Any, sql: str, params: Sequence[object]) -> None:
        if isinstance(self.target, Path):
            cur.execute(sql, tuple(params))
        elif params:  # psycopg reads %s placeholders, and then a literal % must be doubled
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        else:  # without parameters psycopg takes the statement as it is
            cur.execute(sql)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Every row a SELECT returns, each as a dict of its columns."""
        with self._cursor() as cur:
            self._execute(cur, sql, params)
            return [dict(row) for row in cur.fetchall()]

    def one(self, sql: str, params: Sequence[object] = ()) -> dict[str, Any]:
        """The one row a SELECT returns (an AssertionError if it returns none or more)."""
        found = self.rows(sql, params)
        assert len(found) == 1, f"{sql} {list(params)}: {len(found)} rows, expected one"
        return found[0]

    def value(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first column of the one row a SELECT returns."""
        return next(iter(self.one(sql, params).values()))

    def count(self, table: str) -> int:
        return int(self.value(f'SELECT count(*) AS n FROM "{table}"'))

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """A statement that returns nothing (INSERT, UPDATE, DELETE), committed at once."""
        with self._cursor() as cur:
            self._execute(cur, sql, params)

    def insert(self, table: str, *rows: dict[str, object]) -> None:
        """Insert ``rows`` (dicts of column -> value; every column quoted), each committed at once."""
        for row in rows:
            columns = ", ".join(f'"{c}"' for c in row)
            marks = ", ".join("?" for _ in row)
            self.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values()))


class WriteLock:
    """Another writer on a connection of its own that takes the store's write lock and keeps it until
    ``release()``, as a second process would: readers go on, every other writer waits.

    SQLite has one lock for the whole file (``BEGIN IMMEDIATE``); on PostgreSQL the same is every
    table of the store's schema locked ``IN EXCLUSIVE MODE`` (which lets only reads through).
    """

    def __init__(self, target: StoreTarget) -> None:
        self.target = target
        self._conn: Any = (
            sqlite3.connect(target, timeout=30, isolation_level=None)
            if isinstance(target, Path)
            else psycopg.connect(target, autocommit=True)
        )

    def acquire(self) -> None:
        if isinstance(self.target, Path):
            self._conn.execute("BEGIN IMMEDIATE")
            return
        names = self._conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        assert names, f"{self.target}: the store has no tables to lock"
        quoted = ", ".join(f'"{name}"' for (name,) in names)
        self._conn.execute("BEGIN")
        self._conn.execute(f"LOCK TABLE {quoted} IN EXCLUSIVE MODE")

    def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """A statement inside the lock (``?`` placeholders, as for Tables)."""
        if isinstance(self.target, Path):
            self._conn.execute(sql, tuple(params))
        else:
            self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))

    def release(self) -> None:
        """Commit what was written inside the lock, and let the others write."""
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def tables(target: StoreTarget) -> Tables:
    """A second connection to the store at ``target`` (a ``store_target`` or ``store_target_for()``)."""
    return Tables(target)
