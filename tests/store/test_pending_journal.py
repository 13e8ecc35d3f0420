"""Records that wait for a locked database are kept on disk: a stop (or a crash) with the database
still locked loses none of them, the next start writes them in order, and one the store already
has (the process died before removing its file) is not written twice. Real SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from monitor.smtp.records import Recorder
from monitor.store import AsyncStore, Concern, FindingRecord, MessageRecord, Store
from monitor.store.pending import PendingWrites
from monitor.store.records import dump_record, load_record
from tests.conftest import StoreTarget, WriteLock


def a_record(n: int) -> tuple[MessageRecord, list[FindingRecord]]:
    message = MessageRecord(
        f"<m{n}@example.gov.vn>", f"Q{n}", "192.0.2.7", "hoa@example.gov.vn", ("a@partner.vn", "b@x.vn"),
        "outbound", 1234 + n, "quarantine", 0.05, "quarantined",
        concerns=(Concern("hoa@example.gov.vn", "stttt"),),
    )  # fmt: skip
    finding = FindingRecord(
        "executable-attachment", "high", "quarantine", "Tệp thực thi: x.exe", "DN-2022 Đ12.4",
        (Concern("hoa@example.gov.vn", "stttt"),),
    )  # fmt: skip
    return message, [finding]


async def next_start(store_target: StoreTarget, journal: Path) -> int:
    """What the daemon does at start: replay the journal, here until every kept record is written."""
    store = AsyncStore(store_target, lock_timeout=5)
    await store.open()
    pending = PendingWrites(store, first_delay=0.02, max_delay=0.05, journal=journal)
    replayed = await pending.replay(Recorder.load)
    while len(pending):
        await asyncio.sleep(0.02)
    await pending.close()
    await store.close()
    return replayed


def test_a_record_round_trips_through_its_file() -> None:
    message, findings = a_record(1)
    assert load_record(dump_record(message, findings, "q-1")) == (message, findings, "q-1")
    assert load_record(dump_record(message, [], None)) == (message, [], None)


def test_records_kept_through_a_stop_while_locked_are_written_at_the_next_start(
    store_target: StoreTarget, tmp_path: Path
) -> None:
    Store(store_target).close()
    journal = tmp_path / "spool" / "records"

    async def write_while_locked() -> int:
        store = AsyncStore(store_target, lock_timeout=0.05)
        await store.open()
        pending = PendingWrites(store, first_delay=0.02, max_delay=0.05, journal=journal)
        lock = WriteLock(store_target)
        lock.acquire()
        try:
            for n in (1, 2, 3):
                message, findings = a_record(n)
                data = dump_record(message, findings, None)
                written = await pending.write(Recorder.load(data)[0], f"record {n}", data)
                assert not written
            waiting = len(pending)
            await asyncio.sleep(0.2)  # retries meet the lock
            await pending.close()  # a stop with the database still locked
        finally:
            lock.release()
            lock.close()
        await store.close()
        return waiting

    assert asyncio.run(write_while_locked()) == 3
    files = sorted(journal.iterdir())
    assert [p.name.startswith("rec-") and p.suffix == ".json" for p in files] == [True] * 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o700
    assert Store(store_target).messages.recent() == []

    assert asyncio.run(next_start(store_target, journal)) == 3 and list(journal.iterdir()) == []
    rows = Store(store_target).messages.recent()
    assert [r["message_id"] for r in rows] == ["<m3@example.gov.vn>", "<m2@example.gov.vn>", "<m1@example.gov.vn>"]
    store = Store(store_target)
    (finding,) = [f for f in store.messages.recent_findings() if f["message_id"] == "<m2@example.gov.vn>"]
    assert finding["rule"] == "executable-attachment" and finding["citation"] == "DN-2022 Đ12.4"
    assert store.messages.concerns_of_message(rows[0]["id"])  # type: ignore[arg-type]


def test_a_record_already_written_is_not_written_twice_and_a_bad_file_is_set_aside(
    store_target: StoreTarget, tmp_path: Path
) -> None:
    """Also: what a kill left half-written (a temp file never renamed into the journal) is removed,
    and nothing else in the journal is touched."""
    store = Store(store_target)
    message, findings = a_record(7)
    store.messages.record(message, findings)  # written, then the process died before removing the file
    journal = tmp_path / "records"
    journal.mkdir(mode=0o700)
    (journal / "rec-00000000000000000001-00000000.json").write_bytes(dump_record(message, findings, None))
    (journal / "rec-00000000000000000002-00000000.json").write_bytes(b'{"message": {"nonsense": 1}}')
    (journal / ".tmp-k1ll3d").write_bytes(dump_record(*a_record(8), None)[:40])
    (journal / ".tmp-a-directory").mkdir()
    (journal / "notes.txt").write_text("the operator's")

    assert asyncio.run(next_start(store_target, journal)) == 1
    assert [r["message_id"] for r in store.messages.recent()] == ["<m7@example.gov.vn>"]  # once
    assert sorted(p.name for p in journal.iterdir()) == [
        ".tmp-a-directory", "notes.txt", "rec-00000000000000000002-00000000.json.failed",
    ]  # fmt: skip
