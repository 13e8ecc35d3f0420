"""The filter in Postfix's flow, against real Postfix + Dovecot: verdicts, and nothing ever lost.

Fault tests follow one pattern: while the fault lasts, Postfix keeps the message deferred with
the filter's own 451 as the reason; once the fault is cleared and the queue flushed, the message
is delivered (or quarantined) exactly once.
"""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys
import threading
from email.message import EmailMessage

import pytest

from mailstack import MailStack
from monitor.smtp.quarantine import Quarantine
from monitor.store import Store
from tests.conftest import REPO, FilterFactory, FilterProcess, store_target_for
from tests.samples.make_samples import PE, message

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


def store_of(proc: FilterProcess) -> Store:
    return Store(store_target_for(proc.config.parent))


def with_id(msg: EmailMessage, token: str) -> EmailMessage:
    del msg["Message-ID"]
    msg["Message-ID"] = f"<{token}@test.example.gov.vn>"
    return msg


def deliveries(stack: MailStack, address: str, token: str) -> int:
    return sum(1 for m in stack.delivered(address) if token in str(m.get("Message-ID", "")))


def deferred_reason(stack: MailStack) -> str:
    reasons = [r.get("delay_reason", "") for q in stack.queue() for r in q.get("recipients", [])]
    return " | ".join(str(r) for r in reasons if r)


def assert_deferred_then_delivered(stack: MailStack, token: str, reason: str, clear_fault) -> None:  # type: ignore[no-untyped-def]
    stack.wait_until(lambda: reason in deferred_reason(stack), 30, f"a deferral with {reason!r}")
    assert deliveries(stack, VANPHONG, token) == 0
    clear_fault()
    stack.flush_queue()
    stack.wait_until(lambda: deliveries(stack, VANPHONG, token) == 1, 30, "delivery after the fault")
    stack.wait_until(lambda: not stack.queue(), 30, "an empty queue")
    assert deliveries(stack, VANPHONG, token) == 1


def test_clean_official_mail_is_delivered_intact(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    msg = with_id(
        message(
            "Giấy mời họp",
            sender=PARTNER,
            to=VANPHONG,
            attachments=[("giay-moi.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, "application/pdf")],
        ),
        "clean1",
    )
    stack.send(msg, PARTNER, [VANPHONG])
    stack.wait_until(lambda: deliveries(stack, VANPHONG, "clean1") == 1, 30, "delivery")
    (got,) = [m for m in stack.delivered(VANPHONG) if "clean1" in m["Message-ID"]]
    assert got["Subject"] == "Giấy mời họp"
    (att,) = list(got.iter_attachments())
    assert att.get_content() == b"%PDF-1.7\n" + bytes(range(256)) * 40
    assert "X-Mailmon-Finding" not in got
    rows = store_of(proc).messages.recent()
    assert rows[0]["verdict"] == "pass" and rows[0]["direction"] == "inbound"
    assert rows[0]["queue_id"], "the Postfix queue id arrives through XFORWARD"


def test_executable_is_rejected_and_bounced_with_the_clause(
    stack: MailStack, run_filter: FilterFactory
) -> None:
    proc = run_filter()
    msg = with_id(
        message(
            "Phần mềm",
            sender=HOANT,
            to=VANPHONG,
            attachments=[("cai-dat.exe", PE, "application/octet-stream")],
        ),
        "exe1",
    )
    stack.send(msg, HOANT, [VANPHONG])
    stack.wait_until(lambda: any("exe1" in m.as_string() for m in stack.delivered(HOANT)), 30, "the bounce")
    bounce = next(m for m in stack.delivered(HOANT) if "exe1" in m.as_string()).as_string()
    assert "550 5.7.1 Gui, nhan tep tin thuc thi" in bounce
    assert "executable-attachment, DN-2022 D12.6" in bounce
    assert deliveries(stack, VANPHONG, "exe1") == 0
    store = store_of(proc)
    assert [f["rule"] for f in store.messages.recent_findings()] == ["executable-attachment"]
    (copy,) = store.quarantine.entries("rejected")
    kept = Quarantine.read(store, copy)
    assert kept is not None and len(kept) > len(PE)


def test_before_queue_reject_reaches_the_client(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(mode="before-queue")
    msg = message("Phần mềm", sender=PARTNER, to=VANPHONG, attachments=[("x.pdf.exe", PE, "application/pdf")])
    with pytest.raises(smtplib.SMTPDataError) as info:
        stack.send(msg, PARTNER, [VANPHONG], port=stack.ports.smtp_prequeue)
    assert info.value.smtp_code == 550
    text = info.value.smtp_error.decode()
    assert text.startswith("5.7.1 Gui, nhan tep tin thuc thi")
    assert "/ Executable file sent or received" in text
    assert text.endswith("(executable-attachment, DN-2022 D12.6)")


def test_sieve_redirect_to_gmail_is_caught_in_flight(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    store = store_of(proc)
    store.mailboxes.import_directory(
        [{"unit": "stttt", "name": "Sở TT&TT", "parent": None, "it_contact": "[]"}],
        [{"address": HOANT, "display_name": "Hoa", "unit": "stttt", "kind": "personal", "status": "active"}],
    )
    stack.put_sieve_script(HOANT, "chuyentiep", 'redirect "someone@gmail.com";\n')
    msg = with_id(message("Công văn đến", sender=PARTNER, to=HOANT), "sieve1")
    stack.send(msg, PARTNER, [HOANT])
    stack.wait_until(
        lambda: any(f["rule"] == "auto-forward-external" for f in store.messages.recent_findings()), 30, "the finding"
    )
    finding = next(f for f in store.messages.recent_findings() if f["rule"] == "auto-forward-external")
    assert finding["rcpt_tos"] == ["someone@gmail.com"]
    assert "hoant.stttt@example.gov.vn → someone@gmail.com" in finding["detail"]
    assert finding["citation"] == "DN-2022 Đ13.5"
    # The finding is about the box whose rule forwarded it, in that box's unit, not about the outside sender.
    about = store.messages.concerns_of_message(finding["message"])
    assert (finding["id"], HOANT, "stttt") in about and not [c for c in about if c[1] == PARTNER]
    # The bounce goes back to the original sender; nothing reached gmail.com.
    stack.wait_until(lambda: any(PARTNER in s.rcpt_tos for s in stack.sink_messages()), 30, "the bounce")
    assert not [s for s in stack.sink_messages() if "someone@gmail.com" in s.rcpt_tos]


def test_31_mib_attachment_is_rejected(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    msg = with_id(
        message(
            "Số liệu",
            sender=HOANT,
            to=VANPHONG,
            attachments=[("so-lieu.pdf", b"%PDF" + b"\x00" * (31 * 2**20), "application/pdf")],
        ),
        "big1",
    )
    stack.send(msg, HOANT, [VANPHONG])
    stack.wait_until(
        lambda: any("attachment-too-large" in m.as_string() for m in stack.delivered(HOANT)), 60, "bounce"
    )
    assert deliveries(stack, VANPHONG, "big1") == 0
    (row,) = store_of(proc).messages.recent()
    assert row["size"] > 42_000_000 and row["verdict"] == "reject"


def test_quarantine_then_release(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\nphan {i}\r\n" for i in range(1100))
    raw = (
        f"From: {PARTNER}\r\nTo: {VANPHONG}\r\nSubject: many\r\nMessage-ID: <quar1@test.example.gov.vn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + "--b--\r\n"
    ).encode()
    stack.send(raw, PARTNER, [VANPHONG])
    store = store_of(proc)
    stack.wait_until(lambda: bool(store.quarantine.entries()), 30, "the quarantine entry")
    (entry,) = store.quarantine.entries()
    assert "inspection-limit" in entry["reason"]
    stored = Quarantine.read(store, entry) or b""
    assert stored.split(b"\r\n\r\n", 1)[1] == raw.split(b"\r\n\r\n", 1)[1]
    stack.wait_until(lambda: not stack.queue(), 30, "Postfix to let go of it")
    assert deliveries(stack, VANPHONG, "quar1") == 0
    listed = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(proc.config), "quarantine", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert [e["id"] for e in json.loads(listed.stdout)] == [entry["id"]]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "--config",
            str(proc.config),
            "quarantine",
            "release",
            entry["id"],
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    stack.wait_until(lambda: deliveries(stack, VANPHONG, "quar1") == 1, 30, "the released message")
    released = next(m for m in stack.delivered(VANPHONG) if "quar1" in m["Message-ID"])
    assert released["X-Mailmon-Released"] == entry["id"]
    assert store.quarantine.entry(entry["id"])["status"] == "released"  # type: ignore[index]


def test_tag_action_delivers_with_headers(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter('[rules.executable-attachment]\naction = "tag"\n')
    msg = with_id(
        message(
            "Công cụ", sender=PARTNER, to=VANPHONG, attachments=[("tool.exe", PE, "application/octet-stream")]
        ),
        "tag1",
    )
    stack.send(msg, PARTNER, [VANPHONG])
    stack.wait_until(lambda: deliveries(stack, VANPHONG, "tag1") == 1, 30, "delivery")
    got = next(m for m in stack.delivered(VANPHONG) if "tag1" in m["Message-ID"])
    assert got["X-Mailmon"].startswith("tag")
    assert "executable-attachment; DN-2022 Đ12.6; tag" in str(got["X-Mailmon-Finding"])


# --- nothing is ever lost ------------------------------------------------------------------


def test_filter_down_then_back(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    proc.stop()
    stack.send(with_id(message("a", sender=PARTNER, to=VANPHONG), "down1"), PARTNER, [VANPHONG])
    assert_deferred_then_delivered(stack, "down1", "Connection refused", proc.start)


def test_reinjection_refused(stack: MailStack, run_filter: FilterFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    proc = run_filter(reinject=f"127.0.0.1:{closed_port}")
    stack.send(with_id(message("b", sender=PARTNER, to=VANPHONG), "refused1"), PARTNER, [VANPHONG])

    def fix() -> None:
        proc.stop()
        run_filter()

    assert_deferred_then_delivered(stack, "refused1", "4.4.1", fix)


def test_reinjection_timeout(stack: MailStack, run_filter: FilterFactory) -> None:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)  # accepts connections and never says a word
    proc = run_filter(reinject=f"127.0.0.1:{hole.getsockname()[1]}", reinject_timeout_seconds=1.0)
    stack.send(with_id(message("c", sender=PARTNER, to=VANPHONG), "timeout1"), PARTNER, [VANPHONG])

    def fix() -> None:
        proc.stop()
        hole.close()
        run_filter()

    assert_deferred_then_delivered(stack, "timeout1", "4.4.1", fix)


def test_scan_past_its_deadline(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(scan_timeout_seconds=0.001)
    # A 12 MB message takes the worker far longer than 1 ms to read and walk, every time.
    big = message("d", sender=PARTNER, to=VANPHONG, attachments=[("a.pdf", b"%PDF" + bytes(range(256)) * 48_000, "application/pdf")])
    stack.send(with_id(big, "slow1"), PARTNER, [VANPHONG])

    def fix() -> None:
        proc.stop()
        run_filter()

    assert_deferred_then_delivered(stack, "slow1", "4.3.2", fix)


def test_internal_error_when_the_quarantine_cannot_be_written(
    stack: MailStack, run_filter: FilterFactory
) -> None:
    proc = run_filter('[rules.executable-attachment]\naction = "quarantine"\n', quarantine_in="files")
    quarantine_dir = proc.config.parent / "quarantine"
    quarantine_dir.rmdir()
    quarantine_dir.write_text("a file where the quarantine directory should be")
    msg = with_id(
        message("e", sender=PARTNER, to=VANPHONG, attachments=[("a.exe", PE, "application/x-msdownload")]),
        "internal1",
    )
    stack.send(msg, PARTNER, [VANPHONG])
    stack.wait_until(lambda: "4.3.0" in deferred_reason(stack), 30, "a 451 4.3.0 deferral")
    assert "NotADirectoryError" in proc.logs()
    quarantine_dir.unlink()
    quarantine_dir.mkdir()
    stack.flush_queue()
    store = store_of(proc)
    stack.wait_until(lambda: len(store.quarantine.entries()) == 1, 30, "the message in quarantine")
    stack.wait_until(lambda: not stack.queue(), 30, "an empty queue")
    assert len(store.quarantine.entries()) == 1
    assert deliveries(stack, VANPHONG, "internal1") == 0


# --- the filter's own SMTP surface ---------------------------------------------------------


def test_size_is_advertised_and_enforced_at_mail_from(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(max_message_bytes=100_000)
    with smtplib.SMTP("127.0.0.1", stack.ports.filter) as smtp:
        smtp.ehlo("test")
        assert smtp.esmtp_features["size"] == "100000"
        assert "xforward" in smtp.esmtp_features
        code, _ = smtp.mail(PARTNER, ["SIZE=200000"])
        assert code == 552


def test_a_big_scan_does_not_stall_other_connections(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(workers=2)
    big = message(
        "lớn",
        sender=PARTNER,
        to=VANPHONG,
        attachments=[("a.pdf", b"%PDF" + bytes(range(256)) * (80 * 1024), "application/pdf")],
    )
    order: list[str] = []

    def send(name: str, msg: EmailMessage) -> None:
        with smtplib.SMTP("127.0.0.1", stack.ports.filter, timeout=120) as smtp:
            smtp.sendmail(PARTNER, [VANPHONG], msg.as_bytes())
        order.append(name)

    big_thread = threading.Thread(target=send, args=("big", big))
    big_thread.start()
    small_threads = [
        threading.Thread(target=send, args=(f"small{i}", message(f"nhỏ {i}", sender=PARTNER)))
        for i in range(3)
    ]
    for t in small_threads:
        t.start()
    for t in [big_thread, *small_threads]:
        t.join(timeout=120)
    assert sorted(order) == ["big", "small0", "small1", "small2"]
    assert order[-1] == "big", f"small messages waited behind the big one: {order}"
