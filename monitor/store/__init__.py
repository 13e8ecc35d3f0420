"""The store: every SQL statement mailmon runs, as named methods grouped by topic.

``Store`` is one connection (monitor/store/connection.py) and one object per topic: ``messages``
(filtered messages, findings, what each is about), ``quarantine``, ``logins``, ``mailboxes`` (the
directory and sweep results), ``senders`` (sending windows, held senders), ``outbox`` (alert mail)
and ``retention``. The schema is in migrations.py, applied when a store opens.

A connection belongs to one thread. ``AsyncStore`` runs a Store on a thread of its own, awaitable
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

from monitor.store.connection import DEFAULT_LOCK_TIMEOUT, Database, is_locked
from monitor.store.logins import Logins
from monitor.store.mailboxes import Mailboxes
from monitor.store.messages import Messages
from monitor.store.migrations import apply_migrations
from monitor.store.outbox import Outbox
from monitor.store.quarantine_index import QuarantineIndex
from monitor.store.records import Concern, FindingRecord, MessageRecord, utcnow
from monitor.store.retention import Retention
from monitor.store.senders import Senders

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


class Store:
    """The store on one connection; use it from one thread only (or through AsyncStore)."""

    def __init__(self, path: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, migrate: bool = True) -> None:
        if migrate:
            apply_migrations(path, lock_timeout)
        self.path = path
        self._db = Database(path, lock_timeout)
        self.messages = Messages(self._db)
        self.quarantine = QuarantineIndex(self._db)
        self.logins = Logins(self._db)
        self.mailboxes = Mailboxes(self._db)
        self.senders = Senders(self._db)
        self.outbox = Outbox(self._db)
        self.retention = Retention(self._db)

    def close(self) -> None:
        self._db.close()

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

    def __init__(self, path: Path, *, name: str = "store", lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mailmon-{name}")
        self._store: Store | None = None
        self._path = path
        self._lock_timeout = lock_timeout

    async def open(self) -> None:
        self._store = await self._run(lambda: Store(self._path, lock_timeout=self._lock_timeout))

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
