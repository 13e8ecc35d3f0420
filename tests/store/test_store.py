"""The store's own behaviour: writes that wait for the lock, the concerns migration, slices, pending writes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

from monitor.store import AsyncStore, Concern, FindingRecord, MessageRecord, Store, open_database
from monitor.store.connection import SqliteDatabase, is_locked
from monitor.store.migrations import apply_migrations
from monitor.store.pending import PendingWrites
from monitor.store.senders import WindowCounts
from tests.conftest import StoreTarget, WriteLock, tables


def hold_lock(target: StoreTarget, seconds: float, taken: threading.Event) -> threading.Thread:
    """Another writer: takes the write lock, keeps it ``seconds``, commits."""

    def run() -> None:
        lock = WriteLock(target)
        lock.acquire()
        lock.execute("INSERT INTO units (unit, name) VALUES ('other', 'x')")
        taken.set()
        time.sleep(seconds)
        lock.release()
        lock.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.sqlite_only  # SQLite's own locking
def test_a_deferred_transaction_fails_at_once_where_a_store_write_waits(tmp_path: Path) -> None:
    """Why every write starts with BEGIN IMMEDIATE: SQLite cannot upgrade a read snapshot that another
    writer has made stale; that fails with "database is locked" whatever the busy timeout."""
    store = Store(tmp_path / "db.sqlite3", lock_timeout=5)
    deferred = sqlite3.connect(tmp_path / "db.sqlite3", timeout=5, isolation_level=None)
    deferred.execute("BEGIN")
    deferred.execute("SELECT count(*) FROM units").fetchone()  # a read snapshot
    store.mailboxes.import_directory([{"unit": "a", "name": "A", "it_contact": "[]"}], [])  # another writer commits
    with pytest.raises(sqlite3.OperationalError) as error:
        deferred.execute("INSERT INTO units (unit, name) VALUES ('b', 'B')")
    assert is_locked(error.value)
    deferred.execute("ROLLBACK")
    deferred.close()

    taken = threading.Event()
    other = hold_lock(store.path, 0.3, taken)
    taken.wait(10)
    store.mailboxes.import_directory([{"unit": "c", "name": "C", "it_contact": "[]"}], [])  # waits, then writes
    other.join()
    assert store.mailboxes.unit_ids() == {"a", "c", "other"}


def test_a_write_past_the_lock_timeout_fails_as_locked(store_target: StoreTarget) -> None:
    store = Store(store_target, lock_timeout=0.1)
    taken = threading.Event()
    other = hold_lock(store_target, 1.0, taken)
    taken.wait(10)
    with pytest.raises(Exception) as error:  # the back end's own error, which is_locked() knows
        store.mailboxes.set_status("x@example.gov.vn", "active")
    other.join()
    assert is_locked(error.value) and not is_locked(ValueError("locked"))


def test_nested_writes_join_one_transaction_and_roll_back_together(store_target: StoreTarget) -> None:
    store = Store(store_target)
    with pytest.raises(RuntimeError), store.transaction():
        store.outbox.set_cursor("alerts", 7)
        store.outbox.set_alerted("virus|a@b", "u", "2026-01-01")
        raise RuntimeError("after both writes")
    assert store.outbox.cursor("alerts") is None and store.outbox.alerted_at("virus|a@b") is None


@pytest.mark.sqlite_only  # an old SQLite schema upgraded in place
def test_the_concerns_migration_backfills_what_was_recorded_before(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    apply_migrations(open_database(path), stop_before="0012_concerns")  # a database of the schema before concerns
    old = sqlite_utils.Database(path)
    old["mailboxes"].insert_all(
        [{"address": "hoa@example.gov.vn", "unit": "stttt"}, {"address": "vp@example.gov.vn", "unit": "vp"}]
    )
    rows = [
        (1, "hoa@example.gov.vn", ["x@gmail.com"], "outbound"),
        (2, "x@gmail.com", ["vp@example.gov.vn", "hoa@example.gov.vn", "no@example.gov.vn"], "inbound"),
    ]
    for pk, sender, rcpts, direction in rows:
        common = {"mail_from": sender, "rcpt_tos": json.dumps(rcpts), "direction": direction, "time": "2026-01-01"}
        old["messages"].insert({"id": pk, **common, "verdict": "reject"})
        old["findings"].insert({"id": pk * 10, "message": pk, **common, "rule": "virus"})
    old["finding_counts"].insert({"day": "2026-01-01", "unit": "vp", "rule": "virus", "n": 2})
    old["mailbox_view_meta"].insert({"key": "findings_counted", "value": "20"})
    old.close()
    store = Store(path)  # applies 0012_concerns and the rest
    assert store.messages.concerns_of_message(1) == [(None, "hoa@example.gov.vn", "stttt"), (10, "hoa@example.gov.vn", "stttt")]
    assert set(store.messages.concerns_of_message(2)) == {
        (None, "hoa@example.gov.vn", "stttt"), (None, "vp@example.gov.vn", "vp"),
        (20, "hoa@example.gov.vn", "stttt"), (20, "vp@example.gov.vn", "vp"),
    }  # the directory's recipients only, as the reports counted them then
    # The console's counts by unit are made again from the concerns.
    assert store.console.finding_counts("2026-01-01", "2026-01-01", None) == {}
    assert store.console.count_new_findings("+420 minutes") == 2


@pytest.mark.sqlite_only  # an old SQLite schema upgraded in place
def test_a_database_that_has_concerns_under_their_first_number_upgrades(tmp_path: Path) -> None:
    """A database made when the concerns migration was 0007_concerns (before 0007-0011 were placed
    before it) takes the migrations it lacks, and keeps its concerns as they are."""
    path = tmp_path / "concerns-first.sqlite3"
    apply_migrations(open_database(path), stop_before="0007_quarantine_releases")
    old = sqlite_utils.Database(path)
    old.execute(
        "CREATE TABLE concerns (message INTEGER NOT NULL REFERENCES messages(id), "
        "finding INTEGER REFERENCES findings(id), mailbox TEXT NOT NULL, unit TEXT NOT NULL)"
    )
    old["_sqlite_migrations"].insert({"migration_set": "mailmon", "name": "0007_concerns", "applied_at": "2026-01-01"})
    old["messages"].insert({"id": 1, "mail_from": "a@example.gov.vn", "rcpt_tos": "[]", "direction": "outbound"})
    old["concerns"].insert({"message": 1, "finding": None, "mailbox": "a@example.gov.vn", "unit": "u"})
    old.close()
    store = Store(path)
    assert store.messages.concerns_of_message(1) == [(None, "a@example.gov.vn", "u")]  # not backfilled twice
    store.quarantine.add({"id": "q1", "mail_from": "a@example.gov.vn", "rcpt_tos": ["b@example.gov.vn"], "path": ""})
    store.releases.record("q1", "root", "why", "held", "250 ok")
    assert store.worker_failures.record("queue:Q1", "killed") == 1
    assert [r["who"] for r in store.releases.of("q1")] == ["root"]
    applied = {row["name"] for row in tables(path).rows("SELECT name FROM _sqlite_migrations")}
    assert {"0007_concerns", "0007_quarantine_releases", "0011_worker_failures", "0012_concerns"} <= applied


def test_reports_count_a_finding_once_per_unit_and_fill_a_unit_unknown_when_recorded(store_target: StoreTarget) -> None:
    store = Store(store_target)
    store.mailboxes.import_directory(
        [{"unit": "stttt", "name": "S", "it_contact": "[]"}],
        [{"address": "late@example.gov.vn", "unit": "stttt", "kind": "personal", "status": "active"}],
    )
    about = (Concern("a@example.gov.vn", "vp"), Concern("b@example.gov.vn", "vp"), Concern("late@example.gov.vn", ""))
    store.messages.record(
        MessageRecord("<m@x>", "Q", "", "x@gmail.com", ("a@example.gov.vn",), "inbound", 1, "reject", 0.1,
                      time="2026-03-01T00:00:00+00:00", concerns=about),
        [FindingRecord("virus", "high", "reject", "d", "c", about)],
    )
    assert sorted(u for *_, u in store.messages.findings_by_unit("2026-01-01", "2027-01-01")) == ["stttt", "vp"]
    assert sorted(store.messages.verdicts_by_unit("2026-01-01", "2027-01-01")) == [("reject", "stttt"), ("reject", "vp")]


def test_sending_windows_hold_a_sender_and_forget_the_crossing_message(store_target: StoreTarget) -> None:
    store = Store(store_target)
    seen: list[WindowCounts] = []

    def judge(counts: WindowCounts) -> str | None:
        seen.append(counts)
        return "too many" if counts.messages_hour > 2 else None

    stamps = ("2026-01-01T10:00:0{}+00:00", "2026-01-01T09:00:00+00:00", "2025-12-31T10:00:00+00:00")
    for i in range(3):
        reason = store.senders.record_sending(
            "Hoa@Example.gov.vn", [("x@gmail.com", True), ("vp@example.gov.vn", False)], f"<{i}@x>",
            (stamps[0].format(i), stamps[1], stamps[2]), judge, "2026-01-01T11:00:00+00:00",
        )
    assert reason == "too many" and [c.messages_hour for c in seen] == [1, 2, 3] and seen[-1].external_hour == 1
    assert tables(store_target).count("send_events") == 4  # the third message's two events were forgotten
    assert store.senders.hold_of("hoa@example.gov.vn") is not None
    assert [h.sender for h in store.senders.held("2026-01-01T10:30:00+00:00")] == ["hoa@example.gov.vn"]
    assert store.senders.held("2026-01-01T11:30:00+00:00") == []
    assert store.senders.release("hoa@example.gov.vn", "2026-01-01T10:40:00+00:00")
    assert not store.senders.release("hoa@example.gov.vn", "2026-01-01T10:41:00+00:00")
    assert tables(store_target).count("send_events") == 0


def test_pending_writes_keep_their_order_and_are_counted(store_target: StoreTarget) -> None:
    Store(store_target).close()
    counts: list[int] = []

    async def main() -> list[str]:
        store = AsyncStore(store_target, lock_timeout=0.05)
        await store.open()
        pending = PendingWrites(store, counts.append, first_delay=0.02, max_delay=0.05)
        taken = threading.Event()
        other = hold_lock(store_target, 0.5, taken)
        await asyncio.to_thread(taken.wait, 10)
        for unit in ("u1", "u2", "u3"):
            await pending.write(
                lambda s, unit=unit: s.mailboxes.import_directory([{"unit": unit, "name": unit, "it_contact": "[]"}], []),
                f"unit {unit}",
            )
        waiting = len(pending)
        await asyncio.to_thread(other.join)
        while len(pending):
            await asyncio.sleep(0.02)
        await pending.close()
        order = await store.call(lambda s: [u.unit for u in s.mailboxes.units()])
        await store.close()
        return [str(waiting), *order]

    waiting, *units = asyncio.run(main())
    assert waiting == "3" and sorted(units) == ["other", "u1", "u2", "u3"]
    assert counts[:3] == [1, 2, 3] and counts[-1] == 0


def test_retention_deletes_in_slices(store_target: StoreTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.store import retention

    monkeypatch.setattr(retention, "SLICE", 2)
    store = Store(store_target)
    for i in range(5):
        store.messages.record(
            MessageRecord(f"<{i}@x>", "Q", "", "a@b", ("c@d",), "relay", 1, "pass", 0.1,
                          time=f"2026-01-0{i + 1}T00:00:00+00:00", concerns=(Concern("a@b", ""),)),
            [FindingRecord("virus", "high", "tag", "d", "c", (Concern("a@b", ""),))],
        )
    assert store.retention.delete_records_before("2026-01-05") == 4
    assert [m["message_id"] for m in store.messages.recent()] == ["<4@x>"]
    assert tables(store_target).count("findings") == 1 and tables(store_target).count("concerns") == 2


def test_opening_a_current_store_writes_nothing(store_target: StoreTarget) -> None:
    """The metrics scrape opens the store every 15 s: no migration, no write lock when none is pending."""
    Store(store_target).close()
    taken = threading.Event()
    other = hold_lock(store_target, 1.0, taken)
    taken.wait(10)
    try:
        Store(store_target, lock_timeout=0.05).close()  # would fail with "locked" if it tried to write
        if isinstance(store_target, Path):
            SqliteDatabase(store_target, 0.05).close()  # SQLite's connection on its own too
    finally:
        other.join()


def test_retention_deletes_old_login_events_and_days_and_keeps_the_rest(store_target: StoreTarget) -> None:
    store = Store(store_target)
    events = [
        (f"2026-0{m}-10T08:00:00+07:00", "a@example.gov.vn", "imap", "login", 1, "10.0.0.1", f"s{m}", 0)
        for m in (1, 5, 9)
    ]
    assert store.logins.record_events(events) == 3
    assert store.retention.delete_logins_before("2026-05-01", "2026-02-01") == (1, 1)
    assert tables(store_target).count("login_events") == 2
    days = [r["day"] for r in tables(store_target).rows("SELECT day FROM login_days ORDER BY day")]
    assert days == ["2026-05-10", "2026-09-10"]
    # The same log read again later counts the kept events once.
    assert store.logins.record_events(events[1:]) == 0
