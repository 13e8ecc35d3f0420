"""The suite's store fixtures: a run on PostgreSQL (MAILMON_TEST_STORE=postgresql) is really on
PostgreSQL, for the tests and for the processes they start; and the second connection the tests
use (``tables()``, ``WriteLock``) reads, writes and locks alike on both back ends."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from mailstack.postgres import PostgresCluster
from monitor.store import Store
from tests.conftest import BACKEND, ON_POSTGRES, REPO, SAMPLES_DIR, StoreTarget, WriteLock, tables

DIRECTORY = SAMPLES_DIR / "directory"


def test_the_store_of_a_test_is_on_the_chosen_back_end(tmp_path: Path, store_target: StoreTarget) -> None:
    store = Store(store_target)
    store.mailboxes.import_directory([{"unit": "u", "name": "U", "it_contact": "[]"}], [])
    store.close()
    assert tables(store_target).rows("SELECT unit FROM units") == [{"unit": "u"}]
    if ON_POSTGRES:
        assert isinstance(store_target, str) and store_target.startswith("postgresql://")
        reopened = Store(store_target)
        assert (reopened.dialect, reopened.target) == ("postgresql", store_target)
        reopened.close()
        in_schema = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        assert tables(store_target).value(in_schema) > 10  # the store's tables are in the test's schema
        assert list(tmp_path.iterdir()) == []  # and no SQLite file was made beside
    else:
        assert BACKEND == "sqlite" and store_target == tmp_path / "mailmon.sqlite3" and store_target.is_file()


def test_a_command_run_on_the_tests_config_writes_the_tests_store(
    tmp_path: Path, config_file: Path, store_target: StoreTarget
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config_file), "directory", "import",
         str(DIRECTORY / "units.csv"), str(DIRECTORY / "mailboxes.csv")],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert "imported 3" in out.stdout, out.stderr
    assert tables(store_target).count("units") == 3
    assert (tmp_path / "mailmon.sqlite3").exists() is not ON_POSTGRES


# --- tables() and WriteLock on both back ends, whichever the run is on ---------------------------


@pytest.fixture(scope="module")
def check_database(postgres_cluster: PostgresCluster) -> str:
    postgres_cluster.create_database("fixture_check")
    return "fixture_check"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """An empty database of either kind with one table whose columns are reserved words in PostgreSQL."""
    ddl = 'CREATE TABLE logins ("user" TEXT PRIMARY KEY, "offset" INTEGER, note TEXT)'
    if request.param == "sqlite":
        path = tmp_path / "check.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.execute(ddl)
        conn.close()
        return path
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    url = cluster.create_schema(request.getfixturevalue("check_database"), f"check_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(ddl)
    return url


def test_tables_reads_and_writes_alike_on_both_back_ends(empty_target: StoreTarget) -> None:
    db = tables(empty_target)
    db.insert("logins", {"user": "a@x", "offset": 1, "note": "100%"}, {"user": "b@x", "offset": 2, "note": None})
    db.execute('UPDATE logins SET "offset" = "offset" + ? WHERE "user" = ?', [10, "b@x"])
    assert db.count("logins") == 2
    assert db.rows('SELECT "user", "offset", note FROM logins ORDER BY "user"') == [
        {"user": "a@x", "offset": 1, "note": "100%"},
        {"user": "b@x", "offset": 12, "note": None},
    ]
    assert db.one("SELECT note FROM logins WHERE note LIKE '%\\%' ESCAPE '\\' AND \"user\" = ?", ["a@x"]) == {"note": "100%"}
    assert db.value("SELECT note FROM logins WHERE note LIKE '100%'") == "100%"  # a literal % without parameters
    with pytest.raises(AssertionError, match="2 rows, expected one"):
        db.one("SELECT * FROM logins")


def test_a_write_lock_keeps_other_writers_waiting_and_lets_readers_through(empty_target: StoreTarget) -> None:
    tables(empty_target).insert("logins", {"user": "a@x", "offset": 1})
    lock = WriteLock(empty_target)
    lock.acquire()
    lock.execute('UPDATE logins SET "offset" = ? WHERE "user" = ?', [2, "a@x"])
    try:
        assert tables(empty_target).value('SELECT "offset" FROM logins') == 1  # a reader sees the last commit
        write = other_writer(empty_target)
        with pytest.raises((sqlite3.OperationalError, psycopg.errors.LockNotAvailable)):
            write()
    finally:
        lock.release()
        lock.close()
    write()
    assert tables(empty_target).rows('SELECT "user", "offset" FROM logins ORDER BY "user"') == [
        {"user": "a@x", "offset": 2}, {"user": "b@x", "offset": 3},
    ]


def other_writer(target: StoreTarget) -> Callable[[], None]:
    """An insert on a connection of its own that gives up after 0.1 s of waiting for a lock."""

    def write() -> None:
        if isinstance(target, Path):
            with sqlite3.connect(target, timeout=0.1, isolation_level=None) as conn:
                conn.execute("""INSERT INTO logins ("user", "offset") VALUES ('b@x', 3)""")
            conn.close()
        else:
            with psycopg.connect(target, autocommit=True) as pg:
                pg.execute("SET lock_timeout = '100ms'")
                pg.execute("""INSERT INTO logins ("user", "offset") VALUES ('b@x', 3)""")

    return write
