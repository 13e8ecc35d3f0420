"""The store: every SQL statement mailmon runs, as named methods grouped by topic.

``Store`` is one connection (monitor/store/connection.py) and one object per topic: ``messages``
(filtered messages, findings, what each is about), ``quarantine`` (the index of kept messages and
who each is from and to), ``releases`` (who released what, why), ``worker_failures`` (messages
that broke an evaluation worker), ``logins``, ``mailboxes`` (the directory and sweep results),
``unit_people`` (each unit's head and box holder over time), ``requests`` (requests to the IT
department), ``senders`` (sending windows, held senders), ``outbox`` (alert mail), ``retention``,
``console`` (what the operators' console reads and keeps up to date) and ``console_sessions``
(its sessions, sign-in attempts and audit trail), ``job_runs`` (when each scheduled job last started;
which node runs it is monitor/store/leadership.py). The schema is in migrations.py, applied when a
store opens; the database's files are the owner's only (monitor/store/files.py).

The store is SQLite (one machine, no server) or PostgreSQL (several nodes share it): see
monitor/store/connection.py and monitor/store/postgres.py; docs/scale-out.md says which to run.

A connection belongs to one thread.

``AsyncStore`` runs a Store on a thread of its own, awaitable
from the event loop; the service gives the filter one and the batch work (sweeps, digests, the log
follower, retention, alerting) another, so the filter never waits in a queue behind a sweep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from monitor.store.connection import DEFAULT_LOCK_TIMEOUT, Database, SqliteDatabase, is_locked
from monitor.store.console import Console
from monitor.store.console_sessions import ConsoleRecords
from monitor.store.files import private_dir, private_file
from monitor.store.leadership import JobRuns, Leadership, SingleNode
from monitor.store.logins import Logins
from monitor.store.mailboxes import Mailboxes
from monitor.store.messages import Messages
from monitor.store.migrations import apply_migrations
from monitor.store.outbox import Outbox
from monitor.store.quarantine_index import QuarantineIndex
from monitor.store.records import Concern, FindingRecord, MessageRecord, utcnow
from monitor.store.releases import Releases
from monitor.store.requests import Requests
from monitor.store.retention import Retention
from monitor.store.senders import Senders
from monitor.store.unit_people import UnitPeople
from monitor.store.worker_failures import WorkerFailures

__all__ = [
    "AsyncStore",
    "Concern",
    "FindingRecord",
    "MessageRecord",
    "Store",
    "is_locked",
    "utcnow",
]

T = TypeVar("T")


def is_postgres_url(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_database(
    target: Path | str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, password: str | None = None
) -> Database:
    """A connection to the store at ``target``: a PostgreSQL URL, or else the path of a SQLite file."""
    if is_postgres_url(target):
        from monitor.store.postgres import PostgresDatabase  # psycopg only where PostgreSQL is used

        return PostgresDatabase(str(target), password=password, lock_timeout=lock_timeout)
    path = Path(target)
    private_dir(path.parent)
    return SqliteDatabase(path, lock_timeout)


def open_leadership(
    target: Path | str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, password: str | None = None
) -> Leadership | SingleNode:
    """Who runs each job: the database decides between nodes sharing PostgreSQL; SQLite has one node."""
    if is_postgres_url(target):
        return Leadership(str(target), password=password, lock_timeout=lock_timeout)
    return SingleNode()


class Store:
    """The store on one connection; use it from one thread only (or through AsyncStore).

    ``target`` is a SQLite file (a Path) or a PostgreSQL URL (``postgresql://…``, the password given
    apart, never in the URL that is logged)."""

    def __init__(
        self,
        target: Path | str,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        migrate: bool = True,
        password: str | None = None,
    ) -> None:
        self.target = target
        self._db = open_database(target, lock_timeout=lock_timeout, password=password)
        self.dialect = self._db.dialect
        if migrate:
            apply_migrations(self._db)
        if isinstance(self._db, SqliteDatabase):
            self.path = self._db.path
            for name in (self.path.name, self.path.name + "-wal", self.path.name + "-shm"):  # 0600 whatever the umask
                private_file(self.path.with_name(name))
        self.messages = Messages(self._db)
        self.quarantine = QuarantineIndex(self._db)
        self.releases = Releases(self._db)
        self.worker_failures = WorkerFailures(self._db)
        self.logins = Logins(self._db)
        self.mailboxes = Mailboxes(self._db)
        self.unit_people = UnitPeople(self._db)
        self.requests = Requests(self._db)
        self.senders = Senders(self._db)
        self.outbox = Outbox(self._db)
        self.retention = Retention(self._db)
        self.console = Console(self._db)
        self.console_sessions = ConsoleRecords(self._db)
        self.job_runs = JobRuns(self._db)

    def close(self) -> None:
        self._db.close()

    @property
    def database(self) -> Database:
        """The connection itself, for what works on whole tables (monitor/store/copy.py)."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Several writes of different topics committed together (the calls inside join it)."""
        with self._db.write():
            yield

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads from one consistent state of the database."""
        with self._db.read():
            yield


class AsyncStore:
    """A Store on a thread of its own, awaitable from the event loop."""

    def __init__(
        self,
        target: Path | str,
        *,
        name: str = "store",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        password: str | None = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mailmon-{name}")
        self._store: Store | None = None
        self._target = target
        self._lock_timeout = lock_timeout
        self._password = password

    async def open(self) -> None:
        self._store = await self._run(
            lambda: Store(self._target, lock_timeout=self._lock_timeout, password=self._password)
        )

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
