"""Login activity from real Dovecot log lines: kinds, master logins, and exactly-once ingestion."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.mailboxes.dovecot_log import ingest_file, read_last_login_dict
from monitor.store import Store
from tests.conftest import SAMPLES_DIR, StoreTarget, store_target_for, tables

SAMPLES = SAMPLES_DIR / "dovecot"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def events(target: StoreTarget) -> list[dict[str, object]]:
    return tables(target).rows("SELECT * FROM login_events ORDER BY id")


def test_recommended_format_from_the_real_stack(store_target: StoreTarget) -> None:
    store = Store(store_target)
    report = ingest_file(store, SAMPLES / "file-orig-user.log", "monitor", TZ)
    assert report.lines == 74
    rows = events(store_target)
    logins = [r for r in rows if r["kind"] == "login"]
    owner = [r for r in logins if not r["master"]]
    assert {(r["user"], r["protocol"]) for r in owner} == {
        ("hoant.stttt@example.gov.vn", "imap"),
        ("hoant.stttt@example.gov.vn", "managesieve"),
    }
    assert sum(r["master"] for r in logins) == 5  # monitor logins (orig_user=<monitor>) are kept apart
    failures = [r for r in rows if r["kind"] == "auth-failed"]
    assert len(failures) == 22
    assert {r["rip"] for r in failures} >= {"127.0.1.2", "127.0.1.21"}
    assert rows[0]["time"] == "2026-11-22T10:17:31+07:00"


def test_default_format_in_syslog(store_target: StoreTarget) -> None:
    store = Store(store_target)
    ingest_file(store, SAMPLES / "default-format-syslog.log", "monitor", TZ)
    rows = [(r["user"], r["protocol"], r["kind"], r["attempts"], r["master"]) for r in events(store_target)]
    assert rows == [
        ("hoant.stttt@example.gov.vn", "imap", "login", 0, 0),
        ("hoant.stttt@example.gov.vn", "imap", "auth-failed", 3, 0),
        ("vanphong@example.gov.vn", "imap", "login", 0, 1),  # after "Master user logging in as"
        ("vanphong@example.gov.vn", "pop3", "login", 0, 0),
        ("vanphong@example.gov.vn", "submission", "login", 0, 0),
    ]


def test_same_file_twice_and_restart_mid_file(tmp_path: Path, store_target: StoreTarget) -> None:
    store = Store(store_target)
    log = tmp_path / "dovecot.log"
    lines = (SAMPLES / "file-orig-user.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:30]) + lines[30][:40])  # a half-written last line
    first = ingest_file(store, log, "monitor", TZ)
    assert first.lines == 30
    with log.open("ab") as fh:  # Dovecot goes on writing
        fh.write(lines[30][40:] + b"".join(lines[31:]))
    second = ingest_file(store, log, "monitor", TZ)
    assert second.start_offset == first.end_offset and second.lines == 44
    again = ingest_file(store, log, "monitor", TZ)
    assert again.lines == 0 and again.new_events == 0
    other = store_target_for(tmp_path, "other")
    fresh = Store(other)
    ingest_file(fresh, SAMPLES / "file-orig-user.log", "monitor", TZ)
    assert len(events(store_target)) == len(events(other)) == 29
    # The same content under another name (a copy, or a restore) counts nothing twice.
    copy = tmp_path / "copy.log"
    shutil.copy(log, copy)
    tables(store_target).execute("DELETE FROM log_positions")
    replay = ingest_file(store, copy, "monitor", TZ)
    assert replay.new_events == 0 and replay.duplicates == 29


def test_rotation_starts_the_new_file_from_its_beginning(tmp_path: Path, store_target: StoreTarget) -> None:
    store = Store(store_target)
    log = tmp_path / "dovecot.log"
    shutil.copy(SAMPLES / "file-orig-user.log", log)
    ingest_file(store, log, "monitor", TZ)
    log.rename(tmp_path / "dovecot.log.1")
    log.write_bytes((SAMPLES / "default-format-syslog.log").read_bytes())
    report = ingest_file(store, log, "monitor", TZ)
    assert report.start_offset == 0 and report.new_events == 5


def test_last_login_dict(tmp_path: Path) -> None:
    path = tmp_path / "last-login.dict"
    path.write_text(
        "shared/master-login/monitor/vanphong@example.gov.vn\n1795342664\n"
        "shared/last-login/hoant.stttt@example.gov.vn\n1795342651\n"
    )
    found = read_last_login_dict(path, TZ)
    assert list(found) == ["hoant.stttt@example.gov.vn"]
    assert found["hoant.stttt@example.gov.vn"].isoformat() == "2026-11-22T17:17:31+07:00"


def test_follower_survives_rotation(tmp_path: Path, store_target: StoreTarget) -> None:
    from monitor.mailboxes.log_follower import follow_file_once

    store = Store(store_target)
    log = tmp_path / "dovecot.log"
    lines = (SAMPLES / "file-orig-user.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:20]))
    first = follow_file_once(store, log, "monitor", TZ)
    with log.open("ab") as fh:  # written just before logrotate moves the file
        fh.write(b"".join(lines[20:50]))
    log.rename(tmp_path / "dovecot.log.1")
    log.write_bytes(b"".join(lines[50:]))
    rest = follow_file_once(store, log, "monitor", TZ)
    assert first + rest == 29
    assert follow_file_once(store, log, "monitor", TZ) == 0


def test_journald_short_iso_lines_parse() -> None:
    from monitor.mailboxes.dovecot_log import LogClock, parse_events

    text = (
        "2026-11-22T10:05:06+0700 mail dovecot[812]: imap-login: Login: user=<a@example.gov.vn>, method=PLAIN, "
        "rip=203.113.1.5, lip=10.0.0.2, mpid=1, TLS, session=<AAAA>\n"
        "2026-11-22T10:05:07+0700 mail dovecot[812]: imap(a@example.gov.vn)<1><AAAA>: Disconnected: Logged out\n"
    )
    (event,) = list(parse_events(text, "monitor", LogClock(TZ, 2026)))
    assert event[0] == "2026-11-22T10:05:06+07:00" and event[1] == "a@example.gov.vn" and event[3] == "login"
