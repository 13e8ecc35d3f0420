"""Poison messages: a message that outlived, killed or broke an evaluation worker.

The first time, the filter answers 451: Postfix keeps the message and retries it, and the failure
may have been the machine's, not the message's. The second time the message is decided, an
inspection-limit verdict that says what was hit, so that it cannot circle through Postfix's queue
holding workers for days. Failures are counted in the store by Postfix's queue id (XFORWARD IDENT,
the same on every retry), else by the message's SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import Executor

from monitor.inspect.pipeline import Evaluation, Settings, limit_evaluation
from monitor.smtp import replies
from monitor.smtp.replies import Answer
from monitor.smtp.spool import Spool
from monitor.store import AsyncStore

log = logging.getLogger("mailmon.filter")

# The attempt on which a message that keeps breaking workers is decided.
DECIDE_AT = 2


async def record_failure(store: AsyncStore, io: Executor, spool: Spool, queue_id: str, reason: str) -> int | None:
    """Count this failure; how many the message has had, or None when the store could not count it.

    The count decides the answer, so it is written now, not queued: the write waits for the lock up
    to ``[storage] lock_timeout_seconds`` on the filter's store thread (the event loop goes on), and
    if it still fails the message is answered 451 uncounted — Postfix keeps it and the next attempt
    counts. A lost count can only delay a decision by one retry, never lose the message.
    """
    key = (
        f"queue:{queue_id}"
        if queue_id
        else "sha256:" + await asyncio.get_running_loop().run_in_executor(io, _digest, spool)
    )
    try:
        return await store.call(lambda s: s.worker_failures.record(key, reason))
    except Exception:
        log.exception("could not record a worker failure queue_id=%s", queue_id)
        return None


async def on_failure(
    store: AsyncStore,
    io: Executor,
    spool: Spool,
    queue_id: str,
    reason: str,
    mail_from: str,
    rcpt_tos: tuple[str, ...],
    settings: Settings,
) -> Evaluation | Answer:
    """What the filter does with a message that broke its worker: 451 the first time (Postfix keeps it),
    its inspection-limit verdict the second; 451 too when the failure could not be counted."""
    failures = await record_failure(store, io, spool, queue_id, reason)
    if failures is None:  # not counted: a 451, so that the next attempt is counted
        return replies.R451_STORE.answer()
    log.warning("worker failure %d queue_id=%s size=%d: %s", failures, queue_id, spool.size, reason)
    verdict = decided(failures, reason, mail_from, rcpt_tos, settings)
    return replies.R451_SCAN_TIMEOUT.answer() if verdict is None else verdict


def decided(
    failures: int, reason: str, mail_from: str, rcpt_tos: tuple[str, ...], settings: Settings
) -> Evaluation | None:
    """The verdict on the ``failures``-th failure, or None for "not yet: 451"."""
    if failures < DECIDE_AT:
        return None
    return limit_evaluation(f"{reason} (lần thứ {failures} / {failures} attempts)", mail_from, rcpt_tos, settings)


def _digest(spool: Spool) -> str:
    h = hashlib.sha256()
    with spool.open() as reader:
        while block := reader.read(2**20):
            h.update(block)
    return h.hexdigest()
