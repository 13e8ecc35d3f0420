"""Mailbox activity against the real Dovecot: logins from its log, quota and unread age over IMAP,
a Sieve redirect to gmail.com over ManageSieve, all read as the master user."""

from __future__ import annotations

import imaplib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailstack import MailStack
from tests.conftest import REPO, write_config

pytestmark = pytest.mark.stack

HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


@pytest.fixture
def config(stack: MailStack, tmp_path: Path) -> Path:
    stack.clear()
    secret = tmp_path / "master-password"
    secret.write_text(stack.master_user[1] + "\n")
    (tmp_path / "units.csv").write_text("unit,name,parent,it_contact\nstttt,Sở TT&TT,,cntt@example.gov.vn\n")
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f"{HOANT},Nguyễn Thị Hoa,stttt,personal,active,2025-01-01,2026-10-01,1024\n"
        f"{VANPHONG},Văn phòng,stttt,unit,active,2025-01-01,2026-10-01,1024\n"
    )
    extra = (
        "[dovecot]\n"
        'master_user = "monitor"\n'
        f'master_password_file = "{secret}"\n'
        f'imap = "127.0.0.1:{stack.ports.imap}"\n'
        f'managesieve = "127.0.0.1:{stack.ports.sieve}"\n'
    )
    return write_config(tmp_path, extra)


def mailmon(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_sweep_reads_quota_unread_age_and_forwarding(stack: MailStack, config: Path, tmp_path: Path) -> None:
    assert (
        mailmon(config, "directory", "import", str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv")).returncode
        == 0
    )
    stack.put_sieve_script(
        HOANT,
        "roundcube",
        'require ["copy"];\nif true { redirect :copy "hoa.canhan@gmail.com"; }\nredirect "dongnghiep@hanoi.gov.vn";\n',
    )
    week_ago = datetime.now(UTC) - timedelta(days=7)
    conn = stack.imap(VANPHONG, as_master=True)
    try:
        body = b"From: a@partner.gov.vn\r\nSubject: cu\r\n\r\n" + b"x" * 200_000 + b"\r\n"
        conn.append("INBOX", "", imaplib.Time2Internaldate(week_ago.timestamp()), body)
    finally:
        conn.logout()

    out = mailmon(config, "sweep")
    assert out.returncode == 0, out.stderr + out.stdout
    out = mailmon(config, "mailboxes", "--json")
    boxes = {b["address"]: b for b in json.loads(out.stdout)}
    hoa_rules = {f["rule"]: f["detail"] for f in boxes[HOANT]["findings"]}
    assert "hoa.canhan@gmail.com" in hoa_rules["forwarding-rule-external"]
    assert "hanoi.gov.vn" not in json.dumps(boxes[HOANT]["findings"])
    assert boxes[VANPHONG]["quota_used_bytes"] >= 200_000
    assert "unread-backlog" in {f["rule"] for f in boxes[VANPHONG]["findings"]}


def test_owner_logins_count_and_master_logins_do_not(stack: MailStack, config: Path, tmp_path: Path) -> None:
    mailmon(config, "directory", "import", str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv"))
    stack.imap(HOANT).logout()  # the owner reads mail
    stack.imap(VANPHONG, as_master=True).logout()  # the monitor looks at the unit box
    assert mailmon(config, "sweep", "--only", VANPHONG).returncode == 0  # more master logins
    deadline = time.monotonic() + 10
    while "Master user logging in" not in stack.dovecot_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    ingest = mailmon(config, "ingest", "dovecot-log", str(stack.dovecot_log))
    assert ingest.returncode == 0, ingest.stderr
    boxes = {b["address"]: b for b in json.loads(mailmon(config, "mailboxes", "--json").stdout)}
    assert boxes[HOANT]["last_login"] is not None
    assert boxes[VANPHONG]["last_login"] is None
    again = mailmon(config, "ingest", "dovecot-log", str(stack.dovecot_log))
    assert "0 sự kiện mới / new events" in again.stdout


def test_last_login_dict_is_a_second_source(stack: MailStack, config: Path, tmp_path: Path) -> None:
    mailmon(config, "directory", "import", str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv"))
    stack.imap(HOANT).logout()
    stack.imap(VANPHONG, as_master=True).logout()
    text = config.read_text() + f'last_login_dict = "{stack.dovecot.last_login_dict}"\n'
    config.write_text(text)
    assert mailmon(config, "sweep").returncode == 0
    boxes = {b["address"]: b for b in json.loads(mailmon(config, "mailboxes", "--json").stdout)}
    assert boxes[HOANT]["last_login"] is not None  # from the dict, no log ingested
    assert boxes[VANPHONG]["last_login"] is None  # master-login keys are not the owner's
