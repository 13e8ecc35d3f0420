"""`mailmon filter` killed while its records wait for a locked database: the mail went through Postfix
and was delivered, the record was on disk, and the next start writes it to the store."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mailstack import MailStack
from monitor.store import Store
from monitor.store.pending import JOURNAL_PREFIX, JOURNAL_SUFFIX, RECORDS_JOURNAL
from tests.conftest import FilterFactory, WriteLock, store_target_for
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


def test_a_record_waiting_at_a_kill_is_written_after_the_restart(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()  # a record waits lock_timeout_seconds (5) for the database, then is kept
    target = store_target_for(proc.config.parent)
    journal = proc.config.parent / "spool" / RECORDS_JOURNAL

    def kept() -> list[Path]:  # whole records only: a temp file is there while one is being written
        return sorted(journal.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}")) if journal.is_dir() else []

    lock = WriteLock(target)
    lock.acquire()  # another writer holds the database from now on
    try:
        msg = message("Công văn chờ ghi", sender=PARTNER, to=VANPHONG)
        del msg["Message-ID"]
        msg["Message-ID"] = "<cho-ghi@partner.gov.vn>"
        stack.send(msg, PARTNER, [VANPHONG])
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery while the database is locked")
        stack.wait_until(lambda: bool(kept()), 30, "the record kept on disk")
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait(timeout=30)
        proc.proc = None
    finally:
        lock.release()
        lock.close()
    assert not [r for r in Store(target).messages.recent() if r["message_id"] == "<cho-ghi@partner.gov.vn>"]
    proc.start()
    store = Store(target)
    stack.wait_until(lambda: not kept(), 30, "the kept record to be written")
    (row,) = [r for r in store.messages.recent() if r["message_id"] == "<cho-ghi@partner.gov.vn>"]
    assert row["outcome"] == "delivered" and row["mail_from"] == PARTNER
    assert "kept on disk by an earlier run" in proc.logs()
    assert list(journal.iterdir()) == []
