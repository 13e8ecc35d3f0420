"""Writes that have to wait: a record the database would not take yet is kept and retried, never dropped.

The filter answers 250 only once a message is delivered or quarantined; recording what happened is
the step after. If that write fails because another writer held the database past the lock timeout,
the record waits here, in order, and is retried with a growing delay; how many wait is reported
(the ``mailmon_store_pending_writes`` gauge) so an operator sees a backlog. At shutdown the rest get
one last try each; anything still left is logged in full, one line per record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from monitor.store import AsyncStore, Store, is_locked

log = logging.getLogger("mailmon.store")


@dataclass(frozen=True)
class _Write:
    apply: Callable[[Store], object]
    what: str


class PendingWrites:
    """Writes to ``store`` that retry while the database is locked; ``on_count`` hears the backlog."""

    def __init__(
        self,
        store: AsyncStore,
        on_count: Callable[[int], None] = lambda n: None,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self.store = store
        self.on_count = on_count
        self.first_delay, self.max_delay = first_delay, max_delay
        self._queue: deque[_Write] = deque()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    async def write(self, apply: Callable[[Store], object], what: str) -> bool:
        """Write now if the database lets us (True); else keep the write for later (False).

        Writes queue behind older pending ones, so records reach the store in the order they were made.
        Errors other than a lock are not retried (they would fail again) and are logged with ``what``.
        """
        if not self._queue:
            try:
                await self.store.call(apply)
                return True
            except Exception as exc:
                if not is_locked(exc):
                    log.exception("could not write %s (not retried)", what)
                    return False
                log.warning("database locked; %s waits for a retry: %s", what, exc)
        self._queue.append(_Write(apply, what))
        self.on_count(len(self._queue))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._retry())
        return False

    async def _retry(self) -> None:
        delay = self.first_delay
        while self._queue:
            await asyncio.sleep(delay)
            while self._queue:
                pending = self._queue[0]
                try:
                    await self.store.call(pending.apply)
                except Exception as exc:
                    if is_locked(exc):
                        delay = min(self.max_delay, delay * 2)
                        break
                    log.exception("could not write %s (not retried)", pending.what)
                self._queue.popleft()
                self.on_count(len(self._queue))
                delay = self.first_delay

    async def close(self) -> None:
        """One last try for each waiting write; log the ones that still fail."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            pending = self._queue.popleft()
            try:
                await self.store.call(pending.apply)
            except Exception:
                log.exception("LOST at shutdown, could not write %s", pending.what)
        self.on_count(0)
