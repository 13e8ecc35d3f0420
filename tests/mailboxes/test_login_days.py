"""login_days, the per-user-per-day login aggregate kept at ingest, against the events it sums up."""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

from monitor.mailboxes.dovecot_log import LogClock, ingest_file, parse_events
from monitor.mailboxes.evaluate import WINDOW_DAYS, gather_facts, load_account_profile
from monitor.store import Store, open_database
from monitor.store.migrations import apply_migrations
from rules.accounts import check_sessions
from tests.conftest import StoreTarget, store_target_for, tables

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROFILE = load_account_profile("dn-2022", trusted_networks=("10.1.0.0/16",))
USERS = [f"u{i}.stttt@example.gov.vn" for i in range(6)]
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=TZ)  # the log goes on after it


def write_log(path: Path, seed: int = 7) -> None:
    """Logins, monitor logins, failures and noise over two months, seconds to hours apart, busy around NOW."""
    rng = random.Random(seed)
    t = NOW - timedelta(days=45)
    lines = []
    for i in range(3000):
        busy = NOW - timedelta(hours=2) < t < NOW + timedelta(minutes=10)
        t += timedelta(seconds=45 if busy else rng.choice([5, 30, 300, 1200, 1799, 1800, 2400, 7200]))
        ts = t.strftime("%Y-%m-%d %H:%M:%S")
        user, session = rng.choice(USERS), f"S{i:05d}AAAAAAAAAAA"
        ip = rng.choice(["10.1.2.3", "10.1.9.9", "203.113.1.5", "14.160.2.9", "27.72.100.3"])
        k = rng.random()
        if k < 0.5:
            lines.append(
                f"{ts} imap-login: Info: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=10.0.0.2, mpid={i}, TLS, "
                f"session=<{session}>, orig_user=<{user}>"
            )
        elif k < 0.6:
            lines.append(
                f"{ts} imap-login: Info: Login: user=<{user}>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid={i}, "
                f"secured, session=<{session}>, orig_user=<monitor>"
            )
        elif k < 0.8:
            lines.append(
                f"{ts} imap-login: Info: Disconnected: Connection closed (auth failed, 2 attempts in 4 secs): "
                f"user=<{user}>, method=PLAIN, rip={ip}, lip=10.0.0.2, TLS, session=<{session}>"
            )
        else:
            lines.append(f"{ts} lmtp({user})<{i}><{session}>: Info: msgid=<{session}@example.gov.vn>: saved mail to INBOX")
    path.write_text("\n".join(lines) + "\n")


def with_mailboxes(target: StoreTarget) -> Store:
    store = Store(target)
    tables(target).insert(
        "mailboxes", *({"address": u, "display_name": u, "unit": "stttt", "kind": "unit", "status": "active"} for u in USERS)
    )
    return store


def days_table(target: StoreTarget) -> dict[tuple[str, str], tuple[object, ...]]:
    """login_days with each day's instants in order (batches append them in any order)."""
    out: dict[tuple[str, str], tuple[object, ...]] = {}
    for row in tables(target).rows(
        'select day, "user", logins, login_sources, failures, failure_sources, last_login, latest from login_days'
    ):
        day, user, logins, login_sources, failures, failure_sources, last_login, latest = row.values()
        out[(day, user)] = (
            sorted(zip((logins or "").split(","), (login_sources or "").split(","), strict=True)),
            sorted(zip((failures or "").split(","), (failure_sources or "").split(","), strict=True)),
            last_login,
            latest,
        )
    return out


def per_event(target: StoreTarget, now: datetime) -> dict[str, dict[str, object]]:
    """What the account rules need, computed from every stored event (the way it was done before login_days)."""
    gap = timedelta(minutes=PROFILE.check_session_gap_minutes)
    recent = timedelta(minutes=max(PROFILE.failed_logins_window_minutes, PROFILE.networks_window_minutes))
    first_day = (now - timedelta(days=WINDOW_DAYS)).date() + timedelta(days=1)
    out: dict[str, dict[str, object]] = defaultdict(
        lambda: {"last": None, "checks": {}, "sources": set(), "recent_logins": set(), "recent_failures": set()}
    )
    previous: dict[str, datetime] = {}
    for row in tables(target).rows(
        # CAST: the flag is 0/1, whichever type the back end keeps it in
        'select "user", time, kind, rip from login_events where CAST(master AS INTEGER) = 0 and time <= ? order by time',
        [now.isoformat()],
    ):
        user, time, kind, rip = row.values()
        when, facts = datetime.fromisoformat(time), out[user]
        if now - when <= recent:
            facts["recent_logins" if kind == "login" else "recent_failures"].add((when, rip))  # type: ignore[attr-defined]
        if kind != "login":
            continue
        facts["last"] = when
        if when.date() >= first_day:
            checks: dict[date, int] = facts["checks"]  # type: ignore[assignment]
            last = previous.get(user)
            if last is None or when - last >= gap or when.date() != last.date():
                checks[when.date()] = checks.get(when.date(), 0) + 1
            facts["sources"].add(rip)  # type: ignore[attr-defined]
        previous[user] = when
    return out


def assert_facts_match_events(target: StoreTarget, store: Store, now: datetime) -> None:
    expected = per_event(target, now)
    boxes = gather_facts(store, now, TZ, PROFILE)
    assert len(boxes) == len(USERS)
    assert all(expected[b.address]["checks"] and expected[b.address]["sources"] for b in boxes)
    gap = PROFILE.check_session_gap_minutes * 60
    for box in boxes:
        want = expected[box.address]
        assert box.last_login == want["last"]
        assert {day: check_sessions(times, gap) for day, times in box.login_times.items()} == want["checks"]
        assert box.login_sources == want["sources"]
        assert {(f.time, f.rip) for f in box.recent_logins} == want["recent_logins"]
        assert {(f.time, f.rip) for f in box.recent_failures} == want["recent_failures"]


def test_aggregate_equals_the_per_event_computation_across_restart_and_replay(
    tmp_path: Path, store_target: StoreTarget
) -> None:
    log = tmp_path / "dovecot.log"
    write_log(log)
    content = log.read_bytes()
    log.write_bytes(content[: len(content) // 2 + 17])  # a restart in the middle of a line
    store = with_mailboxes(store_target)
    first = ingest_file(store, log, "monitor", TZ)
    log.write_bytes(content)
    second = ingest_file(store, log, "monitor", TZ)
    assert first.new_events and second.new_events and not second.duplicates
    recent = per_event(store_target, NOW).values()
    assert any(f["recent_logins"] for f in recent) and any(f["recent_failures"] for f in recent)
    assert_facts_match_events(store_target, store, NOW)
    assert_facts_match_events(store_target, store, NOW - timedelta(days=3, hours=5))  # a report as of an earlier day
    # The same lines again, under another name and without a stored position: nothing changes.
    before = days_table(store_target)
    copy = tmp_path / "copy.log"
    shutil.copy(log, copy)
    tables(store_target).execute("DELETE FROM log_positions")
    replay = ingest_file(store, copy, "monitor", TZ)
    assert replay.new_events == 0 and replay.duplicates == first.new_events + second.new_events
    assert days_table(store_target) == before
    # One pass over the whole file gives the same aggregate as two with a restart between them.
    fresh = store_target_for(tmp_path, "fresh")
    ingest_file(Store(fresh), log, "monitor", TZ)
    assert days_table(fresh) == before


@pytest.mark.sqlite_only  # an old SQLite schema upgraded in place
def test_migration_builds_login_days_from_stored_events(tmp_path: Path) -> None:
    log = tmp_path / "dovecot.log"
    write_log(log, seed=11)
    events = list(parse_events(log.read_text(), "monitor", LogClock(TZ, 2026)))
    apply_migrations(open_database(tmp_path / "old.sqlite3"), stop_before="0006_login_days")
    old = sqlite_utils.Database(tmp_path / "old.sqlite3")
    old.conn.executemany(
        "insert into login_events (time, user, protocol, kind, attempts, rip, session, master) "
        "values (?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    old.conn.commit()
    old.close()
    Store(tmp_path / "old.sqlite3")
    ingested = Store(tmp_path / "new.sqlite3")
    assert ingested.logins.record_events(events) == len(events)
    assert days_table(tmp_path / "old.sqlite3") == days_table(tmp_path / "new.sqlite3") != {}
