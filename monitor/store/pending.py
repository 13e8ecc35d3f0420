"""Writes that have to wait: a record the database would not take yet is kept and retried, never dropped.

The filter answers 250 only once a message is delivered or quarantined; recording what happened is
the step after. If that write fails because another writer held the database past the lock timeout,
the record waits here, in order, and is retried with a growing delay; how many wait is reported
(the ``mailmon_store_pending_writes`` gauge) so an operator sees a backlog.

A record that has to wait is also kept on disk, in ``journal`` (one 0600 file each, written and
fsynced as soon as it has to wait, removed once the database has it), so a crash, a kill or a stop
with the database still locked loses nothing: the next start queues what is there again
(``replay``), in the order the records were made. A record written just before a crash, whose
file was not removed yet, is recognised at replay by the caller's ``load`` (the filter's records
look for themselves among the newest rows) and not written twice. A record the database refuses
for another reason than a lock would fail again: its file is renamed ``*.failed`` and kept for
the operator, and the error is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.store import AsyncStore, Store, is_locked
from monitor.store.files import private_dir, remove_interrupted_writes, write_durably

log = logging.getLogger("mailmon.store")

JOURNAL_PREFIX, JOURNAL_SUFFIX = "rec-", ".json"
RECORDS_JOURNAL = "records"  # the filter's journal: this directory under [storage] spool_dir


@dataclass
class _Write:
    apply: Callable[[Store], object]
    what: str
    kept: Path | None = None  # its file in the journal, while it waits
    outcome: str = ""  # "written" or "failed", once the retry is through with it


class PendingWrites:
    """Writes to ``store`` that retry while the database is locked; ``on_count`` hears the backlog."""

    def __init__(
        self,
        store: AsyncStore,
        on_count: Callable[[int], None] = lambda n: None,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        journal: Path | None = None,
    ) -> None:
        self.store = store
        self.on_count = on_count
        self.first_delay, self.max_delay = first_delay, max_delay
        self.journal = journal
        self._queue: deque[_Write] = deque()
        self._task: asyncio.Task[None] | None = None
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._queue)

    async def write(self, apply: Callable[[Store], object], what: str, keep: bytes | None = None) -> bool:
        """Write now if the database lets us (True); else keep the write for later (False).

        Writes queue behind older pending ones, so records reach the store in the order they were made.
        ``keep`` is the write as bytes its ``load`` reads back: with a journal it is kept on disk while
        it waits. Errors other than a lock are not retried (they would fail again) and are logged.
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
        # In the queue first, so it keeps its place; on disk before this returns.
        waiting = _Write(apply, what)
        self._queue.append(waiting)
        self._waiting()
        if keep is not None:
            waiting.kept = await asyncio.to_thread(self._keep, keep, what)
            if waiting.outcome:  # the retry got to it while the file was being written
                await asyncio.to_thread(self._done, waiting, waiting.outcome == "failed")
        return False

    async def replay(self, load: Callable[[bytes], tuple[Callable[[Store], object], str]]) -> int:
        """Queue the writes an earlier run left in the journal, oldest first; how many there were.

        ``load`` turns a kept write's bytes back into (apply, what). A file it cannot read is renamed
        ``*.failed`` and logged; the others are retried like any waiting write. A file a kill caught
        half-written (never renamed into the journal, so never kept) is removed.
        """
        if self.journal is None or not self.journal.is_dir():
            return 0
        if interrupted := await asyncio.to_thread(remove_interrupted_writes, self.journal):
            log.warning("%d record file(s) an earlier run did not finish writing were removed", interrupted)
        found = 0
        for path in sorted(self.journal.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}")):
            try:
                apply, what = load(await asyncio.to_thread(path.read_bytes))
            except Exception:
                log.exception("a kept record cannot be read back: %s is left as %s.failed", path.name, path.name)
                self._set_aside(path)
                continue
            log.warning("%s was kept on disk by an earlier run: written now", what)
            self._queue.append(_Write(apply, what, path))
            found += 1
        if found:
            self._waiting()
        return found

    def _waiting(self) -> None:
        self.on_count(len(self._queue))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._retry())

    def _keep(self, data: bytes, what: str) -> Path | None:
        """``data`` in a new journal file, on disk before this returns (None without a journal)."""
        if self.journal is None:
            return None
        name = f"{JOURNAL_PREFIX}{time.time_ns():020d}-{next(self._sequence):08d}{JOURNAL_SUFFIX}"
        path = self.journal / name
        try:
            private_dir(self.journal)
            write_durably(path, [data])
        except OSError:
            log.exception("could not keep %s on disk: it waits in memory only", what)
            return None
        return path

    def _done(self, write: _Write, failed: bool = False) -> None:
        write.outcome = "failed" if failed else "written"
        if write.kept is None:
            return
        if failed:
            self._set_aside(write.kept)
        else:
            with contextlib.suppress(FileNotFoundError):
                write.kept.unlink()

    @staticmethod
    def _set_aside(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.rename(path.with_name(path.name + ".failed"))

    async def _retry(self) -> None:
        delay = self.first_delay
        while self._queue:
            await asyncio.sleep(delay)
            while self._queue:
                pending = self._queue[0]
                failed = False
                try:
                    await self.store.call(pending.apply)
                except Exception as exc:
                    if is_locked(exc):
                        delay = min(self.max_delay, delay * 2)
                        break
                    log.exception("could not write %s (not retried)", pending.what)
                    failed = True
                self._queue.popleft()
                await asyncio.to_thread(self._done, pending, failed)
                self.on_count(len(self._queue))
                delay = self.first_delay

    async def close(self) -> None:
        """One last try for each waiting write; one that still fails stays in the journal for the next
        start (without a journal it is logged as lost)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            pending = self._queue.popleft()
            try:
                await self.store.call(pending.apply)
            except Exception as exc:
                if pending.kept is not None and is_locked(exc):
                    log.warning("%s stays in %s and is written at the next start", pending.what, pending.kept)
                elif pending.kept is not None:
                    log.exception("could not write %s (not retried)", pending.what)
                    self._done(pending, failed=True)
                else:
                    log.exception("LOST at shutdown, could not write %s", pending.what)
            else:
                self._done(pending)
        self.on_count(0)
