"""Alert mail through the real stack: urgent alerts, daily digests, dedup, and a relay outage."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporters.notify.alerts import build_digests, daily_digest, enqueue_digests, enqueue_new_findings
from exporters.notify.outbox import OutboxSender, outbox
from mailstack import MailStack
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.directory import import_csv
from monitor.mailboxes.evaluate import load_account_profile
from monitor.store import Concern, FindingRecord, MessageRecord, Store
from tests.conftest import StoreTarget, tables

pytestmark = pytest.mark.stack

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
IT = "postmaster@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
CAL = Calendar()
DN = load_account_profile("dn-2022")


@pytest.fixture
def store(tmp_path: Path, store_target: StoreTarget) -> Store:
    (tmp_path / "units.csv").write_text(f"unit,name,parent,it_contact\nstttt,Sở Thông tin và Truyền thông,,{IT}\n")
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f"{HOANT},Nguyễn Thị Hoa,stttt,personal,active,2025-01-01,2026-10-01,1024\n"
        f"{VANPHONG},Văn phòng,stttt,unit,active,2025-01-01,2026-10-01,1024\n"
    )
    s = Store(store_target)
    report = import_csv(s, tmp_path / "units.csv", tmp_path / "mailboxes.csv")
    assert not report.errors
    return s


def record_virus(store: Store, sender: str = HOANT, unit: str = "stttt") -> None:
    """An outbound virus as the filter records it: about the sender, in the unit the directory gave then."""
    about = (Concern(sender, unit),)
    store.messages.record(
        MessageRecord(
            message_id="<v1@example.gov.vn>", queue_id="Q1", client_addr="", mail_from=sender,
            rcpt_tos=("ban@partner.gov.vn",), direction="outbound", size=1200, verdict="quarantine",
            outcome="quarantined as q1", seconds=0.05, concerns=about,
        ),
        [FindingRecord("virus", "critical", "quarantine", "baocao.zip/baocao.exe: Eicar-Signature.UNOFFICIAL",
                       "DN-2022 Đ13.2, DN-2022 Đ12.5", about)],
    )


def sender(port: int) -> OutboxSender:
    return OutboxSender(f"127.0.0.1:{port}", False, None, None, "mailmon@example.gov.vn", timeout=10)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text_and_html(msg: object) -> tuple[str, str]:
    text = msg.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    html = msg.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    return text, html


def test_urgent_finding_is_mailed_once_to_the_units_it_contact(stack: MailStack, store: Store) -> None:
    stack.clear()
    now = datetime(2026, 11, 20, 9, 0, tzinfo=TZ)
    enqueue_new_findings(store, now, CAL, DN)  # starts the cursor: history before this is not alerted
    record_virus(store)
    ids = enqueue_new_findings(store, now, CAL, DN)
    assert len(ids) == 1
    assert enqueue_new_findings(store, now, CAL, DN) == []  # the cursor moved on
    record_virus(store)  # the same finding for the same mailbox within a day: no second alert
    assert enqueue_new_findings(store, now + timedelta(hours=2), CAL, DN) == []

    report = sender(stack.ports.reinject).send_pending(store, now)
    assert report.sent == ids and not report.deferred and not report.failed
    stack.wait_until(lambda: len(stack.delivered(IT)) == 1, what="the alert in the IT contact's Maildir")
    msg = stack.delivered(IT)[0]
    assert IT in msg["To"] and msg["Auto-Submitted"] == "auto-generated"
    assert "CẢNH BÁO / ALERT" in msg["Subject"]
    text, html = text_and_html(msg)
    assert text.index("Căn cứ: DN-2022 Đ13.2") < text.index("Clause: DN-2022 Đ13.2")  # Vietnamese first
    assert HOANT in text and "Eicar-Signature" in text
    # What to do and by when: 1 working day after Friday 20/11/2026 is Monday 23/11/2026.
    assert "trong 1 ngày làm việc, trước 23/11/2026" in text
    assert "within 1 working day, before 23/11/2026" in text
    assert "<table" in html and "Hộp thư" in html and "DN-2022 Đ13.2" in html
    assert "theo Quyết định 07/2022/QĐ-UBND ngày 26/01/2022 của Ủy ban nhân dân tỉnh Đắk Nông" in text
    assert "under Decision 07/2022/QĐ-UBND of the People's Committee of Đắk Nông province" in text
    assert [r["status"] for r in outbox(store)] == ["sent"]

    # A day later the same finding is alerted again.
    record_virus(store)
    assert len(enqueue_new_findings(store, now + timedelta(days=1, minutes=1), CAL, DN)) == 1


def test_daily_digest_lists_what_each_unit_must_do_and_by_when(
    stack: MailStack, store: Store, store_target: StoreTarget
) -> None:
    stack.clear()
    # Hoa last logged in on 10/08/2026: three months later (10/11) the box is due for suspension,
    # and the unit has 15 working days from then to ask for it to be reopened.
    tables(store_target).insert("last_login", {"user": HOANT, "time": "2026-08-10T09:00:00+07:00", "source": "test"})
    now = datetime(2026, 11, 20, 7, 30, tzinfo=TZ)
    digests = build_digests(store, now, CAL, DN)
    assert [d.unit for d in digests] == ["stttt"] and digests[0].to == (IT,)
    removal = CAL.add_working_days(datetime(2026, 11, 10).date(), 15)
    assert f"đề nghị mở lại trong 15 ngày làm việc, trước {removal:%d/%m/%Y}" in digests[0].text
    assert f"request reopening within 15 working days, before {removal:%d/%m/%Y}" in digests[0].text
    assert "virus" not in digests[0].text  # urgent rules are never in the digest

    assert len(enqueue_digests(store, digests, now)) == 1
    assert daily_digest(store, now + timedelta(hours=1), CAL, DN) == []  # once a day
    assert daily_digest(store, datetime(2026, 11, 21, 7, 30, tzinfo=TZ), CAL, DN) == []  # Saturday

    assert len(sender(stack.ports.reinject).send_pending(store, now).sent) == 1
    stack.wait_until(lambda: len(stack.delivered(IT)) == 1, what="the digest")
    text, _ = text_and_html(stack.delivered(IT)[0])
    assert HOANT in text and "DN-2022 Đ8.1" in text


def test_relay_outage_keeps_items_pending_with_backoff_then_delivers_once(
    stack: MailStack, store: Store, store_target: StoreTarget
) -> None:
    stack.clear()
    now = datetime.now(UTC)
    enqueue_new_findings(store, now, CAL, DN)
    record_virus(store)
    [item] = enqueue_new_findings(store, now, CAL, DN)

    down = sender(closed_port())
    first = down.send_pending(store, now)
    assert first.deferred == [item] and not first.sent
    row = outbox(store)[0]
    assert row["status"] == "pending" and row["attempts"] == 1 and "Connection refused" in row["last_error"]
    assert datetime.fromisoformat(row["next_attempt_at"]) == now.replace(microsecond=0) + timedelta(minutes=1)
    assert down.send_pending(store, now + timedelta(seconds=30)).deferred == []  # still backing off
    second = down.send_pending(store, now + timedelta(minutes=1))
    assert second.deferred == [item]
    row = outbox(store)[0]
    assert row["attempts"] == 2
    assert datetime.fromisoformat(row["next_attempt_at"]) == now.replace(microsecond=0) + timedelta(minutes=3)

    # A restart: a new sender object on a new Store connection finds the item and delivers it once.
    store.close()
    reopened = Store(store_target)
    up = sender(stack.ports.reinject)
    assert up.send_pending(reopened, now + timedelta(minutes=2)).sent == []  # not due yet
    assert up.send_pending(reopened, now + timedelta(minutes=3)).sent == [item]
    assert up.send_pending(reopened, now + timedelta(hours=1)).sent == []
    stack.wait_until(lambda: len(stack.delivered(IT)) == 1, what="the alert after the outage")
    stack.wait_until(lambda: not stack.queue(), what="an empty Postfix queue")  # nothing else on its way
    assert len(stack.delivered(IT)) == 1
    assert outbox(reopened)[0]["status"] == "sent"
    reopened.close()
