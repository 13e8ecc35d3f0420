"""Mailbox activity against the real Dovecot: logins from its log, quota and unread age over IMAP,
a Sieve redirect to gmail.com over ManageSieve, all read as the master user."""

from __future__ import annotations

import asyncio
import imaplib
import json
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailstack import MailStack
from monitor.config import load_config
from monitor.mailboxes.sweep import BoxStatus, Poller
from tests.conftest import mailmon, write_config

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


def poll(config: Path, *addresses: str) -> dict[str, BoxStatus]:
    poller = Poller(load_config(config))
    return {s.address: s for s in asyncio.run(poller.poll_all(list(addresses), concurrency=4))}


def append(stack: MailStack, address: str, when: datetime, flags: str = "") -> None:
    conn = stack.imap(address, as_master=True)
    try:
        conn.append("INBOX", flags, imaplib.Time2Internaldate(when.timestamp()), b"Subject: x\r\n\r\nx\r\n")
    finally:
        conn.logout()


def test_sweep_reads_without_side_effects_and_finds_the_oldest_unseen(stack: MailStack, config: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    append(stack, VANPHONG, now - timedelta(days=30), r"(\Seen)")  # older, but read
    append(stack, VANPHONG, now - timedelta(days=2))
    append(stack, VANPHONG, now - timedelta(days=9))
    append(stack, VANPHONG, now - timedelta(days=1))
    before = sorted(p.name for p in (stack.maildir(VANPHONG) / "cur").iterdir())

    box = poll(config, VANPHONG, HOANT)
    assert box[VANPHONG].error is None and box[HOANT].error is None
    assert box[VANPHONG].inbox_messages == 4
    assert box[VANPHONG].oldest_unseen is not None
    assert datetime.fromisoformat(box[VANPHONG].oldest_unseen) == now - timedelta(days=9)
    assert box[VANPHONG].quota_limit_bytes == 1 << 30
    assert (box[HOANT].inbox_messages, box[HOANT].oldest_unseen) == (0, None)
    # EXAMINE: no \Seen set, nothing moved out of new/ or renamed in cur/
    assert sorted(p.name for p in (stack.maildir(VANPHONG) / "cur").iterdir()) == before
    conn = stack.imap(VANPHONG, as_master=True)
    try:
        conn.select("INBOX", readonly=True)
        assert conn.search(None, "UNSEEN")[1][0].split() == [b"2", b"3", b"4"]
    finally:
        conn.logout()


def test_every_external_redirect_is_found(stack: MailStack, config: Path) -> None:
    stack.put_sieve_script(
        HOANT,
        "roundcube",
        'require ["copy", "variables"];\n'
        'set "dest" "ca.nhan@yahoo.com";\n'
        'if header :contains "subject" "a" { if true { redirect :copy "long.nested@gmail.com"; } }\n'
        'redirect "${dest}";\n'
        'redirect "dongnghiep@hanoi.gov.vn";\n'
        'redirect "vanphong@example.gov.vn";\n',
    )
    stack.put_sieve_script(VANPHONG, "cu", 'redirect "khong.dung@gmail.com";\n', activate=False)
    stack.put_sieve_script(VANPHONG, "OK", 'redirect "ten.la.ok@gmail.com";\n')
    box = poll(config, HOANT, VANPHONG)
    assert box[HOANT].sieve_forwards == ["long.nested@gmail.com", "${dest}"]
    assert box[VANPHONG].sieve_forwards == ["ten.la.ok@gmail.com"]  # not "cu": it is not active
    assert box[HOANT].error is None and box[VANPHONG].error is None


def test_a_failing_box_is_recorded_and_the_others_are_read(stack: MailStack, config: Path) -> None:
    box = poll(config, "khongco@example.gov.vn", HOANT)
    assert "login" in (box["khongco@example.gov.vn"].error or "")
    assert box[HOANT].error is None and box[HOANT].inbox_messages == 0

    config.write_text(config.read_text() + "box_timeout_seconds = 0.5\n")
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config.write_text(config.read_text().replace(f":{stack.ports.imap}", f":{silent.getsockname()[1]}"))
        box = poll(config, HOANT, VANPHONG)
    assert all((b.error or "").startswith("TimeoutError") for b in box.values())


def test_starttls_is_never_skipped(stack: MailStack, config: Path) -> None:
    config.write_text(config.read_text() + 'tls = "starttls"\n')
    poller = Poller(load_config(config))
    for context in (poller.imap_tls, poller.sieve_tls):
        assert context is not None
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    before = stack.dovecot_log.read_text().count("Master user logging in")
    box = poll(config, HOANT)[HOANT]  # this Dovecot has ssl = no: it cannot do STARTTLS
    assert "STARTTLS" in (box.error or "")
    assert stack.dovecot_log.read_text().count("Master user logging in") == before  # no plaintext login
