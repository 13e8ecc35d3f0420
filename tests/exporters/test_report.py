"""The yearly report: HTML rendered by a real headless Chromium, CSV for Excel, and the December reminder."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporters.reports.report import build_reminders, build_report, enqueue_reminders, reminder_due
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.directory import import_csv
from monitor.mailboxes.evaluate import load_account_profile
from monitor.store import Concern, FindingRecord, MessageRecord, Store
from tests.conftest import REPO, StoreTarget, tables

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = Calendar()
DN = load_account_profile("dn-2022")
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=TZ)
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture
def store(tmp_path: Path, store_target: StoreTarget) -> Store:
    (tmp_path / "units.csv").write_text(
        "unit,name,parent,it_contact\n"
        "stttt,Sở Thông tin và Truyền thông,,cntt@example.gov.vn\n"
        "sotuphap,Sở Tư pháp,,it.stp@example.gov.vn\n"
    )
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        "hoant.stttt@example.gov.vn,Nguyễn Thị Hoa,stttt,personal,active,2025-01-01,2026-10-01,1024\n"
        "vanphong@example.gov.vn,Văn phòng,stttt,unit,active,2025-01-01,2026-10-01,1024\n"
        "tuphap@example.gov.vn,Sở Tư pháp,sotuphap,unit,active,2026-11-01,2026-11-01,1024\n"
    )
    s = Store(store_target)
    assert not import_csv(s, tmp_path / "units.csv", tmp_path / "mailboxes.csv").errors
    tables(store_target).insert("last_login", {"user": "vanphong@example.gov.vn", "time": "2026-12-01T09:00:00+07:00", "source": "t"})
    hoa = (Concern("hoant.stttt@example.gov.vn", "stttt"),)
    for month, rule, action, n in [(1, "virus", "quarantine", 2), (3, "executable-attachment", "reject", 1),
                                   (3, "virus", "quarantine", 1), (11, "classified-content", "quarantine", 4)]:
        for i in range(n):
            s.messages.record(
                MessageRecord(
                    time=f"2026-{month:02d}-1{i}T10:00:00+07:00", message_id=f"<{month}.{i}@x>", queue_id="Q",
                    client_addr="", mail_from="hoant.stttt@example.gov.vn", rcpt_tos=("a@partner.gov.vn",),
                    direction="outbound", size=100, verdict=action, outcome=action, seconds=0.1, concerns=hoa,
                ),
                [FindingRecord(rule, "high", action, "d", "DN-2022 Đ12.6", hoa)],
            )
    # Inbound to the Sở Tư pháp in 2025: outside the period.
    tuphap = (Concern("tuphap@example.gov.vn", "sotuphap"),)
    s.messages.record(
        MessageRecord(
            time="2025-06-01T10:00:00+07:00", message_id="<old@x>", queue_id="Q", client_addr="",
            mail_from="x@gmail.com", rcpt_tos=("tuphap@example.gov.vn",), direction="inbound", size=1,
            verdict="reject", outcome="rejected", seconds=0.1, concerns=tuphap,
        ),
        [FindingRecord("virus", "high", "reject", "d", "DN-2022 Đ13.2", tuphap)],
    )
    return s


def test_csv_opens_in_excel_as_utf8_and_counts_by_rule_and_month(store: Store) -> None:
    data = build_report(store, "2026", None, "csv", tz=TZ, profile=DN, calendar=CAL, now=NOW)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "Mục / Section"
    cells = {(r[0], r[1], r[2], r[3]): r[4] for r in rows[1:]}
    assert cells[("findings", "stttt", "virus", "2026-01")] == "2"
    assert cells[("findings", "stttt", "virus", "2026-03")] == "1"
    assert cells[("findings", "stttt", "classified-content", "2026-11")] == "4"
    assert cells[("actions", "stttt", "quarantine", "")] == "7"
    assert cells[("actions", "stttt", "reject", "")] == "1"
    assert cells[("mailbox", "stttt", "vanphong@example.gov.vn", "")] == "active"
    assert ("findings", "sotuphap", "virus", "2025-06") not in cells  # outside the period
    one = build_report(store, "2026-11", "stttt", "csv", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8-sig")
    assert "sotuphap" not in one and "2026-11" in one and "2026-01" not in one
    with pytest.raises(ValueError, match="YYYY"):
        build_report(store, "26", None, "csv", tz=TZ, profile=DN)


def test_html_report_renders_in_headless_chromium(store: Store, tmp_path: Path) -> None:
    html = build_report(store, "2026", None, "html", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8")
    assert "Sở Thông tin và Truyền thông" in html and "@media print" in html
    assert html.count("<svg") == 2 and ">4</text>" in html  # bars carry their numbers
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium (Debian package chromium) is not installed")
    page = tmp_path / "report.html"
    page.write_text(html, "utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    png = ARTIFACTS / "report.png"
    png.unlink(missing_ok=True)
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={png}", "--window-size=1280,2000", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 30_000  # text, tables and charts, not a blank page


def test_reminder_ahead_of_15_december(store: Store) -> None:
    assert reminder_due(NOW, CAL, DN)  # Wednesday 02/12/2026, 8 working days before the 14th
    assert not reminder_due(datetime(2026, 11, 2, 8, tzinfo=TZ), CAL, DN)
    assert not reminder_due(datetime(2026, 12, 15, 8, tzinfo=TZ), CAL, DN)
    assert not reminder_due(datetime(2026, 12, 5, 8, tzinfo=TZ), CAL, DN)  # Saturday
    mails = {m.unit: m for m in build_reminders(store, NOW, CAL, DN)}
    assert set(mails) == {"stttt", "sotuphap"} and mails["stttt"].to == ("cntt@example.gov.vn",)
    text = mails["stttt"].text
    assert "trước ngày 15/12/2026" in text and "before 15/12/2026" in text and "DN-2022 Đ14.6" in text
    assert "2 hộp thư / mailboxes, 8 vi phạm" in text
    assert "kết quả thực hiện Quy chế này" in text and "Ủy ban nhân dân tỉnh" in text
    assert len(enqueue_reminders(store, NOW, CAL, DN)) == 2
    assert enqueue_reminders(store, datetime(2026, 12, 3, 8, tzinfo=TZ), CAL, DN) == []  # once a year


@pytest.mark.parametrize("name", ["lc-2015", "bdi-2017", "bd-2005", "dl-2006"])
def test_no_reminder_where_the_regulation_sets_no_yearly_report(store: Store, name: str) -> None:
    profile = load_account_profile(name)
    assert not reminder_due(NOW, CAL, profile)
    assert build_reminders(store, NOW, CAL, profile) == []
    html = build_report(store, "2026", None, "html", tz=TZ, profile=profile, calendar=CAL, now=NOW).decode("utf-8")
    assert profile.regulation.number in html and "15/12" not in html
    assert f"{profile.regulation.short_name} không quy định báo cáo năm" in html


def test_the_report_names_the_regulation_and_cites_its_clauses(store: Store) -> None:
    html = build_report(store, "2026", None, "html", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8")
    assert "07/2022/QĐ-UBND" in html and "Ủy ban nhân dân tỉnh Đắk Nông" in html
    assert "trước ngày 15/12" in html and "DN-2022 Đ14.6" in html
    assert "<td>virus</td><td>DN-2022 Đ13.2, DN-2022 Đ12.5</td>" in html
    csv_text = build_report(store, "2026", None, "csv", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8-sig")
    assert "regulation,,DN-2022,,\"Quyết định 07/2022/QĐ-UBND" in csv_text


def test_requests_and_free_mail_counts_in_the_report_and_the_digest(store: Store) -> None:
    from exporters.notify.alerts import build_digests
    store.requests.add("restore", "hoant.stttt@example.gov.vn", "stttt", datetime(2026, 11, 24, 8, tzinfo=TZ))
    late = store.requests.add("create", "moi.stttt@example.gov.vn", "stttt", datetime(2026, 11, 2, 8, tzinfo=TZ))
    store.requests.complete(late, datetime(2026, 11, 10, 9, tzinfo=TZ))  # 3 working days were due by 05/11
    hoa = (Concern("hoant.stttt@example.gov.vn", "stttt"),)
    store.messages.record(
        MessageRecord(
            time="2026-11-20T10:00:00+07:00", message_id="<g@x>", queue_id="Q", client_addr="",
            mail_from="hoant.stttt@example.gov.vn", rcpt_tos=("hoa@gmail.com",), direction="outbound",
            size=1, verdict="tag", outcome="delivered", seconds=0.1, concerns=hoa,
        ),
        [FindingRecord("public-provider-mailbox", "info", "tag", "d", "BDi-2017 Đ11.4", hoa)],
    )
    rows = build_report(store, "2026", "stttt", "csv", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8-sig")
    assert "request,stttt,#1 restore hoant.stttt@example.gov.vn,2026-11-24,open; due 2026-11-26; late" in rows
    assert "request,stttt,#2 create moi.stttt@example.gov.vn,2026-11-02,done 2026-11-10; due 2026-11-05; late" in rows
    assert "public_provider_messages" not in rows  # DN-2022 has no such rule
    html = build_report(store, "2026", "stttt", "html", tz=TZ, profile=DN, calendar=CAL, now=NOW).decode("utf-8")
    assert "Đề nghị gửi bộ phận CNTT" in html and "(DN-2022 Đ8.3)" in html and "trễ hạn / late" in html

    bdi = load_account_profile("bdi-2017")
    rows = build_report(store, "2026", "stttt", "csv", tz=TZ, profile=bdi, calendar=CAL, now=NOW).decode("utf-8-sig")
    assert "public_provider_messages,stttt,,,1" in rows
    assert "open; no deadline" in rows  # BDi-2017 gives the IT department no deadline
    html = build_report(store, "2026", "stttt", "html", tz=TZ, profile=bdi, calendar=CAL, now=NOW).decode("utf-8")
    assert "Thư với hộp thư công cộng / Mail with free-mail boxes" in html

    digest = {d.unit: d for d in build_digests(store, NOW, CAL, DN)}["stttt"]
    assert "#1 khôi phục hộp thư hoant.stttt@example.gov.vn" in digest.text and "DN-2022 Đ8.3" in digest.text
    assert "#2" not in digest.text  # done, if late: a report line, not something left to chase
    assert not any("#1 khôi phục" in d.text for d in build_digests(store, NOW, CAL, load_account_profile("lc-2015")))
