"""The filter handler's outcome paths, in process: aiosmtpd's Controller runs the real FilterSMTP and
FilterHandler on a real store, and a second Controller stands in for Postfix's re-injection port.

Fast and root-free beside the real-stack tests (tests/smtp/test_filter_stack.py): deliver, tag,
quarantine, reject, a 451 for each thing that can fail (clamd, rspamd, re-injection, the store, the
evaluation timeout), a held sender, which mailbox and unit each finding is about, and records that
wait for a locked database without being lost.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from exporters.metrics.instruments import Metrics
from exporters.notify.alerts import enqueue_new_findings
from exporters.notify.outbox import outbox
from monitor.config import load_config
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import load_account_profile
from monitor.smtp.handler import FilterHandler
from monitor.smtp.quarantine import Quarantine
from monitor.smtp.server import FilterSMTP
from monitor.store import AsyncStore, Store
from monitor.store.pending import PendingWrites
from tests.conftest import StoreTarget, WriteLock, store_target_for, tables, write_config
from tests.samples.hostile_builders import many_parts
from tests.samples.make_samples import PE, message

HOANT = "hoant.stttt@example.gov.vn"
KETOAN = "ketoan@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
PARTNER = "lanhdao@partner.gov.vn"
OUTSIDER = "someone@gmail.com"
DN = load_account_profile("dn-2022")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        time.sleep(0.02)


@dataclass
class Relay:
    """Postfix's re-injection port: keeps what it is given, answers ``reply``."""

    reply: str = "250 2.0.0 Ok: queued as TEST"
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return self.reply


class FilterController(Controller):
    """aiosmtpd's test Controller serving mailmon's SMTP server class instead of the stock one."""

    def factory(self) -> FilterSMTP:
        return FilterSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class Filter:
    port: int
    handler: FilterHandler
    store: Store  # a second connection, for the test's own reads
    target: StoreTarget  # what both were opened with
    registry: CollectorRegistry
    relay: Relay
    controller: FilterController
    async_store: AsyncStore

    def send(self, msg: EmailMessage | bytes, mail_from: str, rcpt_tos: list[str]) -> tuple[int, str]:
        """(code, text) of the filter's answer to DATA."""
        raw = msg if isinstance(msg, bytes) else msg.as_bytes()
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.ehlo()
            code, text = smtp.mail(mail_from)
            if code != 250:
                return code, text.decode()
            for rcpt in rcpt_tos:
                smtp.rcpt(rcpt)
            code, text = smtp.data(raw)
            return code, text.decode()

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.controller.loop).result(60)


DIRECTORY = (
    [
        {"unit": "stttt", "name": "Sở Thông tin và Truyền thông", "parent": None, "it_contact": '["it@example.gov.vn"]'},
        {"unit": "ketoan", "name": "Phòng Kế toán", "parent": "stttt", "it_contact": '["it.kt@example.gov.vn"]'},
    ],
    [
        {"address": HOANT, "display_name": "Hoa", "unit": "stttt", "kind": "personal", "status": "active"},
        {"address": VANPHONG, "display_name": "Văn phòng", "unit": "stttt", "kind": "unit", "status": "active"},
        {"address": KETOAN, "display_name": "Kế toán", "unit": "ketoan", "kind": "unit", "status": "active"},
    ],
)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Filter]]:
    started: list[Filter] = []

    def start_filter(
        extra: str = "",
        relay: Relay | None = None,
        reinject_port: int | None = None,
        lock_timeout: float | None = None,
        **keys: object,
    ) -> Filter:
        """A filter on a fresh store with the directory in it; ``keys`` are [filter] keys."""
        relay = relay or Relay()
        keys.setdefault("workers", 1)
        relay_controller = Controller(relay, hostname="127.0.0.1", port=free_port())
        relay_controller.start()
        port = free_port()
        config = load_config(
            write_config(
                tmp_path,
                extra,
                listen=f"127.0.0.1:{port}",
                reinject=f"127.0.0.1:{reinject_port or relay_controller.port}",
                **keys,
            )
        )
        if lock_timeout is not None:
            storage = config.storage.model_copy(update={"lock_timeout_seconds": lock_timeout})
            config = config.model_copy(update={"storage": storage})
        target = store_target_for(tmp_path)  # the store write_config() names
        mine = Store(target)
        mine.mailboxes.import_directory(*DIRECTORY)
        config.storage.spool_dir.mkdir(parents=True, exist_ok=True)
        config.storage.quarantine_dir.mkdir(parents=True, exist_ok=True)
        registry = CollectorRegistry()
        metrics = Metrics(registry, version="test")
        store = AsyncStore(target, lock_timeout=config.storage.lock_timeout_seconds)
        pending = PendingWrites(store, metrics.store_pending, first_delay=0.05, max_delay=0.2)
        handler = FilterHandler(config, store, events=metrics, pending=pending)
        controller = FilterController(
            handler,
            hostname="127.0.0.1",
            port=port,
            spool_dir=config.storage.spool_dir,
            spool_memory_limit=config.filter.spool_memory_bytes,
            data_size_limit=config.filter.max_message_bytes,
            enable_SMTPUTF8=True,
        )
        controller.start()
        filt = Filter(port, handler, mine, target, registry, relay, controller, store)
        filt.run(store.open())
        filt.relay_controller = relay_controller  # type: ignore[attr-defined]
        started.append(filt)
        return filt

    yield start_filter
    for filt in started:
        filt.run(filt.handler.recorder.pending.close())
        filt.run(filt.async_store.close())
        filt.controller.stop()
        filt.relay_controller.stop()  # type: ignore[attr-defined]
        filt.handler.close()  # its re-injection sessions and worker processes
        filt.store.close()


def with_id(msg: EmailMessage, token: str) -> EmailMessage:
    del msg["Message-ID"]
    msg["Message-ID"] = f"<{token}@example.gov.vn>"
    return msg


def records(filt: Filter) -> list[dict[str, Any]]:
    return filt.store.messages.recent()


# -- the outcomes ----------------------------------------------------------------------------------


def test_clean_mail_is_delivered_and_recorded(start: Callable[..., Filter]) -> None:
    filt = start()
    code, text = filt.send(with_id(message("Công văn", sender=PARTNER, to=VANPHONG), "clean"), PARTNER, [VANPHONG])
    assert code == 250 and text.startswith("2.0.0")
    (mail_from, rcpts, raw) = filt.relay.received[0]
    assert (mail_from, rcpts) == (PARTNER, [VANPHONG]) and b"X-Mailmon" not in raw
    (row,) = records(filt)
    assert (row["verdict"], row["outcome"], row["direction"]) == ("pass", "delivered", "inbound")
    assert filt.metric("mailmon_messages_total", direction="inbound", verdict="pass") == 1
    assert filt.metric("mailmon_dependency_up", dependency="reinject") == 1


def test_tagged_mail_is_delivered_with_the_findings_in_headers(start: Callable[..., Filter]) -> None:
    filt = start('[rules.executable-attachment]\naction = "tag"\n')
    msg = with_id(message("Phần mềm", sender=PARTNER, to=VANPHONG, attachments=[("a.exe", PE, "application/x-msdownload")]), "tag")
    code, _ = filt.send(msg, PARTNER, [VANPHONG])
    assert code == 250
    got = email.message_from_bytes(filt.relay.received[0][2], policy=email.policy.default)
    assert got["X-Mailmon"] == "tag (1 findings)"
    assert str(got["X-Mailmon-Finding"]).startswith("executable-attachment; DN-2022 Đ12.6; tag;")
    assert filt.metric("mailmon_findings_total", rule="executable-attachment", action="tag", unit="stttt") == 1


def test_quarantined_mail_is_kept_and_answered_250(start: Callable[..., Filter]) -> None:
    filt = start()
    msg = with_id(message("TỐI MẬT: kế hoạch", sender=HOANT, to=VANPHONG), "secret")
    code, text = filt.send(msg, HOANT, [VANPHONG])
    assert code == 250 and text.startswith("2.7.0") and "classified-content" in text
    (entry,) = filt.store.quarantine.entries()
    assert Quarantine.read(filt.store, entry) == msg.as_bytes() and entry["status"] == "held"
    assert not filt.relay.received
    assert records(filt)[0]["outcome"] == f"quarantined as {entry['id']}"


def test_rejected_mail_gets_550_with_the_clause_and_a_kept_copy(start: Callable[..., Filter]) -> None:
    filt = start()
    msg = with_id(message("Phần mềm", sender=PARTNER, to=VANPHONG, attachments=[("x.pdf.exe", PE, "application/pdf")]), "rej")
    code, text = filt.send(msg, PARTNER, [VANPHONG])
    assert code == 550 and text.startswith("5.7.1 Gui, nhan tep tin thuc thi")
    assert text.endswith("(executable-attachment, DN-2022 D12.6)")
    (copy,) = filt.store.quarantine.entries("rejected")
    assert not filt.relay.received and records(filt)[0]["outcome"] == f"rejected; copy kept as {copy['id']}"
    assert filt.metric("mailmon_filter_fail_closed_total", reason="internal") == 0


# -- a 451 for each dependency -----------------------------------------------------------------------


def closed_port() -> int:
    return free_port()  # nothing listens there


def test_clamd_down_is_451_clamd_and_its_gauge_drops(start: Callable[..., Filter]) -> None:
    filt = start(f'[clamav]\nenabled = true\naddress = "127.0.0.1:{closed_port()}"\ntimeout_seconds = 5\n')
    code, text = filt.send(with_id(message("x", sender=PARTNER, to=VANPHONG), "clamd"), PARTNER, [VANPHONG])
    assert (code, text[:5]) == (451, "4.7.1") and "Virus scanner unavailable" in text
    assert filt.metric("mailmon_filter_fail_closed_total", reason="clamd") == 1
    assert filt.metric("mailmon_dependency_up", dependency="clamd") == 0
    assert filt.metric("mailmon_dependency_errors_total", dependency="clamd") == 1
    assert not filt.relay.received and not records(filt)


def test_clamd_down_with_fail_open_passes_unscanned_and_says_so(start: Callable[..., Filter]) -> None:
    filt = start(f'[clamav]\nenabled = true\nfail_open = true\naddress = "127.0.0.1:{closed_port()}"\n')
    code, _ = filt.send(with_id(message("x", sender=PARTNER, to=VANPHONG), "open"), PARTNER, [VANPHONG])
    assert code == 250
    raw = filt.relay.received[0][2]
    assert b"X-Mailmon-Virus-Scan: not scanned (clamd unavailable)" in raw
    assert [f["rule"] for f in filt.store.messages.recent_findings()] == ["virus-unscanned"]
    assert filt.metric("mailmon_dependency_up", dependency="clamd") == 0


def test_rspamd_down_is_451_rspamd_when_failing_closed(start: Callable[..., Filter]) -> None:
    filt = start(f'[rspamd]\nurl = "http://127.0.0.1:{closed_port()}"\nfail_open = false\n')
    code, text = filt.send(with_id(message("x", sender=PARTNER, to=VANPHONG), "rspamd"), PARTNER, [VANPHONG])
    assert (code, text[:5]) == (451, "4.7.1") and "Spam scoring unavailable" in text
    assert filt.metric("mailmon_filter_fail_closed_total", reason="rspamd") == 1
    assert filt.metric("mailmon_dependency_up", dependency="rspamd") == 0


def test_reinjection_refused_is_451_reinject(start: Callable[..., Filter]) -> None:
    filt = start(reinject_port=closed_port())
    code, text = filt.send(with_id(message("x", sender=PARTNER, to=VANPHONG), "down"), PARTNER, [VANPHONG])
    assert (code, text[:5]) == (451, "4.4.1")
    assert filt.metric("mailmon_filter_fail_closed_total", reason="reinject") == 1
    assert filt.metric("mailmon_dependency_up", dependency="reinject") == 0
    assert filt.metric("mailmon_dependency_errors_total", dependency="reinject") == 1
    assert not records(filt)  # nothing was delivered: Postfix keeps it, nothing to record


def test_reinjection_deferred_by_postfix_is_451_reinject(start: Callable[..., Filter]) -> None:
    filt = start(relay=Relay(reply="451 4.3.0 Queue file write error"))
    code, text = filt.send(with_id(message("x", sender=PARTNER, to=VANPHONG), "defer"), PARTNER, [VANPHONG])
    assert (code, text[:5]) == (451, "4.4.1")
    assert filt.metric("mailmon_filter_fail_closed_total", reason="reinject") == 1


def test_quarantine_that_cannot_be_written_is_451_store(start: Callable[..., Filter], tmp_path: Path) -> None:
    filt = start(quarantine_in="files")
    quarantine = tmp_path / "quarantine"
    quarantine.rmdir()
    quarantine.write_text("a file where the quarantine directory should be")
    code, text = filt.send(with_id(message("TỐI MẬT", sender=HOANT, to=VANPHONG), "nostore"), HOANT, [VANPHONG])
    assert (code, text[:5]) == (451, "4.3.0") and "Could not store" in text
    assert filt.metric("mailmon_filter_fail_closed_total", reason="store") == 1
    assert not filt.relay.received


def test_evaluation_over_the_scan_timeout_is_451_timeout(start: Callable[..., Filter]) -> None:
    filt = start(scan_timeout_seconds=0.001)
    big = message("Báo cáo", sender=PARTNER, to=VANPHONG, attachments=[("bao-cao.bin", b"\x00" * 300_000, "application/octet-stream")])
    code, text = filt.send(with_id(big, "slow"), PARTNER, [VANPHONG])
    assert (code, text[:5]) == (451, "4.3.2")
    assert filt.metric("mailmon_filter_fail_closed_total", reason="timeout") == 1


def test_a_held_sender_is_451_but_not_a_failure(start: Callable[..., Filter]) -> None:
    filt = start("[ratelimit.limits.personal]\nmessages_per_hour = 1\nexternal_recipients_per_hour = 10\n"
                 "external_recipients_per_day = 10\n")
    first = filt.send(with_id(message("1", sender=HOANT, to=PARTNER), "h1"), HOANT, [PARTNER])
    second = filt.send(with_id(message("2", sender=HOANT, to=PARTNER), "h2"), HOANT, [PARTNER])
    assert first[0] == 250 and second[0] == 451 and second[1].startswith("4.7.1")
    third = filt.send(with_id(message("3", sender=HOANT, to=PARTNER), "h3"), HOANT, [PARTNER])  # refused at MAIL
    assert third[0] == 451 and "Sender held" in third[1]
    assert sum(filt.metric("mailmon_filter_fail_closed_total", reason=r) for r in ("dependency", "internal", "held")) == 0
    assert filt.metric("mailmon_findings_total", rule="spam", action="hold", unit="stttt") == 1
    (spam,) = [f for f in filt.store.messages.recent_findings() if f["rule"] == "spam"]
    assert (spam["id"], HOANT, "stttt") in filt.store.messages.concerns_of_message(spam["message"])


# -- which mailbox and unit a finding is about ----------------------------------------------------------


def test_a_sieve_redirect_is_about_the_forwarding_box_and_its_unit(start: Callable[..., Filter]) -> None:
    """The redirected copy carries the outside sender in its envelope; the finding is about ketoan@."""
    filt = start()
    filt.run(filt.async_store.call(lambda s: enqueue_new_findings(s, _now(), Calendar(), DN)))  # start the alert cursor
    msg = with_id(message("Hóa đơn", sender=PARTNER, to=OUTSIDER, headers={"X-Sieve-Redirected-From": KETOAN}), "sieve")
    code, text = filt.send(msg, PARTNER, [OUTSIDER])
    assert code == 550 and "auto-forward-external" in text
    (finding,) = filt.store.messages.recent_findings()
    assert filt.store.messages.concerns_of_message(finding["message"]) == [
        (None, KETOAN, "ketoan"),
        (finding["id"], KETOAN, "ketoan"),
    ]
    assert filt.metric("mailmon_findings_total", rule="auto-forward-external", action="reject", unit="ketoan") == 1
    # The alert goes to Phòng Kế toán's IT contact, not to "a unit not in the directory".
    filt.run(filt.async_store.call(lambda s: enqueue_new_findings(s, _now(), Calendar(), DN)))
    (mail,) = outbox(filt.store)
    assert (mail["unit"], mail["to_addrs"]) == ("ketoan", ["it.kt@example.gov.vn"])
    assert KETOAN in mail["text"] and PARTNER not in mail["subject"]


def test_inbound_findings_are_about_each_local_recipient(start: Callable[..., Filter]) -> None:
    filt = start()
    msg = with_id(message("Phần mềm", sender=PARTNER, to=VANPHONG, attachments=[("a.exe", PE, "application/x-msdownload")]), "in")
    filt.send(msg, PARTNER, [VANPHONG, KETOAN, OUTSIDER])
    (finding,) = filt.store.messages.recent_findings()
    about = [(m, u) for f, m, u in filt.store.messages.concerns_of_message(finding["message"]) if f == finding["id"]]
    assert about == [(KETOAN, "ketoan"), (VANPHONG, "stttt")]


# -- the store under a second writer ---------------------------------------------------------------------


class LockHolder(threading.Thread):
    """A second writer on its own connection: takes the write lock for ``hold`` seconds, again and again."""

    def __init__(self, target: StoreTarget, hold: float, pause: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.target, self.hold, self.pause = target, hold, pause
        self.stop = threading.Event()
        self.locks = 0

    def run(self) -> None:
        lock = WriteLock(self.target)
        try:
            while not self.stop.is_set():
                lock.acquire()
                self.locks += 1
                lock.execute("UPDATE units SET updated = ? WHERE unit = 'stttt'", (str(time.time()),))
                time.sleep(self.hold)
                lock.release()
                time.sleep(self.pause)
        finally:
            lock.close()


def test_a_writer_holding_100_ms_locks_costs_no_record_and_no_451(start: Callable[..., Filter]) -> None:
    """Every write waits for the lock instead of failing at once (SQLite: BEGIN IMMEDIATE, not "database is locked")."""
    filt = start()
    holder = LockHolder(filt.target, hold=0.1)
    holder.start()
    answers: list[int] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        for i in range(6):
            token = f"w{n}-{i}"
            if i % 3 == 0:  # quarantined: the index row is written before the answer
                msg, rcpt = message(f"TỐI MẬT {token}", sender=HOANT, to=VANPHONG), VANPHONG
            else:  # outbound: the sending windows are written before the answer
                msg, rcpt = message(f"Công văn {token}", sender=HOANT, to=PARTNER), PARTNER
            code, _ = filt.send(with_id(msg, token), HOANT, [rcpt])
            with lock:
                answers.append(code)

    try:
        wait_until(lambda: holder.locks > 0, "the second writer")
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        locks_meanwhile = holder.locks
    finally:
        holder.stop.set()
        holder.join()
    assert locks_meanwhile > 5, "the second writer really held the lock while the filter wrote"
    assert answers == [250] * 24
    wait_until(lambda: len(records(filt)) == 24, "every record")
    assert len(filt.store.quarantine.entries()) == 8
    assert filt.metric("mailmon_filter_fail_closed_total", reason="store") == 0
    assert filt.metric("mailmon_store_pending_writes") == 0


def test_a_record_the_database_will_not_take_yet_waits_and_is_written_later(start: Callable[..., Filter]) -> None:
    """The lock held past the timeout: the message is delivered, its record waits (counted), then lands."""
    filt = start(lock_timeout=0.2)
    holder = LockHolder(filt.target, hold=1.5, pause=0.5)
    holder.start()
    try:
        wait_until(lambda: holder.locks > 0, "the second writer")
        code, _ = filt.send(with_id(message("Công văn", sender=PARTNER, to=VANPHONG), "late"), PARTNER, [VANPHONG])
        assert code == 250 and filt.relay.received  # delivered: the record is the step after
        wait_until(lambda: filt.metric("mailmon_store_pending_writes") == 1, "the record waiting")
    finally:
        holder.stop.set()
        holder.join()
    wait_until(lambda: filt.metric("mailmon_store_pending_writes") == 0, "the record written")
    (row,) = records(filt)
    assert row["outcome"] == "delivered" and row["message_id"] == "<late@example.gov.vn>"


def test_a_message_that_breaks_its_worker_is_451_then_decided_and_451_store_if_it_cannot_be_counted(
    start: Callable[..., Filter],
) -> None:
    """A poison message's failure count decides the answer, so it is written before answering: 451 the
    first time, the verdict the second; a count the database will not take is a 451 too (never a pass)."""
    filt = start("[inspection]\nmax_mime_parts = 1000000\n", lock_timeout=0.2, worker_deadline_seconds=0.1)
    poison = many_parts(60_000)  # with the part limit lifted, a worker takes seconds; its deadline is 0.1 s
    first = filt.send(poison, PARTNER, [VANPHONG])
    assert (first[0], first[1][:5]) == (451, "4.3.2")
    second = filt.send(poison, PARTNER, [VANPHONG])
    assert second[0] == 250 and "inspection-limit" in second[1]
    holder = LockHolder(filt.target, hold=1.5, pause=0.5)
    holder.start()
    try:
        wait_until(lambda: holder.locks > 0, "the second writer")
        third = filt.send(poison.replace(b"x\r\n", b"y\r\n", 1), PARTNER, [VANPHONG])
    finally:
        holder.stop.set()
        holder.join()
    assert (third[0], third[1][:5]) == (451, "4.3.0")
    assert filt.metric("mailmon_filter_fail_closed_total", reason="store") == 1
    counts = tables(filt.target).rows("SELECT failures FROM worker_failures")
    assert counts == [{"failures": 2}]  # the first message's two failures; the third was not counted, so it comes back
    assert not filt.relay.received


def _now() -> datetime:
    return datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
