"""The store's whole schema: versioned sqlite-utils migrations, applied in order when a store opens.

Two migration sets, applied in this order: ``mailmon`` (messages, findings, quarantine, directory,
logins, mailbox status, sending windows) and ``mailmon-exporters`` (the alert outbox). The second
keeps its own name because databases already record its migrations under it.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from monitor.store.files import private_dir
from monitor.store.sql import ADD_LOGIN_DAYS

migrations = Migrations("mailmon")
outbox_migrations = Migrations("mailmon-exporters")


def apply_migrations(path: Path, lock_timeout: float) -> None:
    """Bring the database at ``path`` up to date (idempotent; safe while other processes use it)."""
    private_dir(path.parent)
    db = sqlite_utils.Database(path)
    try:
        db.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        for migration_set in (migrations, outbox_migrations):
            if migration_set.pending(db):
                migration_set.apply(db)
    finally:
        db.close()


@migrations(name="0001_enable_wal", transactional=False)
def _m1_wal(db: sqlite_utils.Database) -> None:
    db.enable_wal()


@migrations(name="0002_messages_findings_quarantine")
def _m2_tables(db: sqlite_utils.Database) -> None:
    db.table("messages").create(
        {
            "id": int,
            "time": str,
            "message_id": str,
            "queue_id": str,
            "client_addr": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "size": int,
            "verdict": str,
            "outcome": str,
            "seconds": float,
        },
        pk="id",
    )
    db.table("findings").create(
        {
            "id": int,
            "message": int,
            "time": str,
            "message_id": str,
            "queue_id": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "rule": str,
            "severity": str,
            "action": str,
            "detail": str,
            "citation": str,
        },
        pk="id",
        foreign_keys=[("message", "messages", "id")],
    )
    db.table("findings").create_index(["time"])
    db.table("findings").create_index(["rule", "time"])
    db.table("quarantine").create(
        {
            "id": str,
            "time": str,
            "message": int,
            "message_id": str,
            "queue_id": str,
            "mail_from": str,
            "rcpt_tos": str,
            "direction": str,
            "verdict": str,
            "reason": str,
            "path": str,
            "size": int,
            "sha256": str,
            "status": str,
        },
        pk="id",
    )
    db.table("quarantine").create_index(["status", "time"])


@migrations(name="0003_directory_activity")
def _m3_directory_activity(db: sqlite_utils.Database) -> None:
    db.table("units").create({"unit": str, "name": str, "parent": str, "it_contact": str, "updated": str}, pk="unit")
    db.table("mailboxes").create(
        {
            "address": str,
            "display_name": str,
            "unit": str,
            "kind": str,
            "status": str,
            "created_at": str,
            "password_changed_at": str,
            "quota_mb": int,
            "updated": str,
        },
        pk="address",
    )
    db.table("mailboxes").create_index(["unit"])
    db.table("login_events").create(
        {
            "id": int,
            "time": str,
            "user": str,
            "protocol": str,
            "kind": str,
            "attempts": int,
            "rip": str,
            "session": str,
            "master": int,
        },
        pk="id",
    )
    db.table("login_events").create_index(["kind", "session"], unique=True)
    db.table("login_events").create_index(["user", "time"])
    db.table("log_positions").create({"fingerprint": str, "path": str, "offset": int, "updated": str}, pk="fingerprint")
    db.table("last_login").create({"user": str, "time": str, "source": str}, pk="user")


@migrations(name="0004_mailbox_status")
def _m4_mailbox_status(db: sqlite_utils.Database) -> None:
    db.table("mailbox_status").create(
        {
            "address": str,
            "polled_at": str,
            "quota_used_bytes": int,
            "quota_limit_bytes": int,
            "inbox_messages": int,
            "oldest_unseen": str,
            "sieve_forwards": str,
            "error": str,
        },
        pk="address",
    )
    db.table("mailbox_history").create({"address": str, "status": str, "since": str}, pk=("address", "status"))


@migrations(name="0005_send_windows")
def _m5_send_windows(db: sqlite_utils.Database) -> None:
    # One row per outbound message and recipient: the sliding windows are counted from these, so
    # several filter nodes sharing one store (PostgreSQL later) see the same windows.
    db.table("send_events").create(
        {"id": int, "sender": str, "time": str, "rcpt": str, "external": int, "message_id": str}, pk="id"
    )
    db.table("send_events").create_index(["sender", "time"])
    db.table("held_senders").create(
        {"sender": str, "since": str, "until": str, "reason": str, "released_at": str}, pk="sender"
    )


@migrations(name="0006_login_days")
def _m6_login_days(db: sqlite_utils.Database) -> None:
    # An event is the same event when its time, kind and session are: that unique index grows at its
    # end as the log does, where the (kind, session) one took a random insert per event; the account
    # rules read login_days instead of (user, time).
    db.execute("DROP INDEX idx_login_events_kind_session")
    db.execute("DROP INDEX idx_login_events_user_time")
    db.table("login_events").create_index(["time", "kind", "session"], unique=True)
    db.execute(
        "CREATE TABLE login_days (day TEXT NOT NULL, user TEXT NOT NULL, logins TEXT, login_sources TEXT, "
        "failures TEXT, failure_sources TEXT, last_login TEXT, latest INTEGER, PRIMARY KEY (day, user)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_login_days_user_last_login ON login_days (user, last_login)")
    db.execute(ADD_LOGIN_DAYS, [0])


@migrations(name="0007_quarantine_releases")
def _m7_quarantine_releases(db: sqlite_utils.Database) -> None:
    # Who released which quarantined message, when and why (monitor/store/releases.py).
    db.table("quarantine_releases").create(
        {"id": int, "quarantine_id": str, "time": str, "who": str, "why": str, "was": str, "reply": str}, pk="id"
    )
    db.table("quarantine_releases").create_index(["quarantine_id"])


@migrations(name="0008_requests_unit_people")
def _m8_requests_unit_people(db: sqlite_utils.Database) -> None:
    # A unit's requests to the IT department (create, change, reset, close, restore a mailbox) and when
    # each was done: the profile's deadlines are counted from requested_at (monitor/store/requests.py).
    db.table("it_requests").create(
        {
            "id": int,
            "kind": str,
            "mailbox": str,
            "unit": str,
            "requested_at": str,
            "completed_at": str,
            "note": str,
            "recorded_at": str,
        },
        pk="id",
        not_null={"kind", "mailbox", "unit", "requested_at"},
    )
    db.table("it_requests").create_index(["mailbox", "kind"])
    db.table("it_requests").create_index(["completed_at"])
    # Who has been each unit's head, and its box's holder, since when (monitor/store/unit_people.py):
    # a new row when the directory names someone else; the unit-handover rule reads the latest change.
    db.table("unit_people").create(
        {"unit": str, "role": str, "person": str, "since": str, "recorded_at": str}, pk=("unit", "role", "since")
    )
    # The last password reset the directory knows of (resets done outside `mailmon requests`).
    db.table("mailboxes").add_column("password_reset_at", str)


@migrations(name="0009_console")
def _m9_console(db: sqlite_utils.Database) -> None:
    # The operators' console (monitor/store/console.py, monitor/store/console_sessions.py).
    # Every address a quarantined message is from or to, lower case: which units may see it is
    # decided when asked, through the directory as it is then (a message touching two units is both's).
    db.execute(
        "CREATE TABLE quarantine_parties (quarantine_id TEXT NOT NULL, address TEXT NOT NULL, "
        "PRIMARY KEY (address, quarantine_id)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_quarantine_parties_id ON quarantine_parties (quarantine_id)")
    db.execute(
        "INSERT OR IGNORE INTO quarantine_parties (quarantine_id, address) "
        "SELECT id, lower(mail_from) FROM quarantine WHERE coalesce(mail_from, '') != '' "
        "UNION SELECT q.id, lower(r.value) FROM quarantine q, json_each(q.rcpt_tos) r"
    )
    # The quarantine list pages by (time, id), newest first; a message view reads its findings.
    db.execute("CREATE INDEX idx_quarantine_time_id ON quarantine (time, id)")
    db.execute("CREATE INDEX idx_findings_message ON findings (message)")
    # Sessions: the SHA-256 of the cookie's random value (the database never holds a usable cookie).
    db.execute(
        "CREATE TABLE console_sessions (id TEXT PRIMARY KEY, address TEXT NOT NULL, csrf TEXT NOT NULL, "
        "created_at TEXT NOT NULL, last_seen TEXT NOT NULL, client TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_console_sessions_last_seen ON console_sessions (last_seen)")
    # Sign-in attempts, kept so that the limits survive a restart.
    db.execute(
        "CREATE TABLE signin_attempts (id INTEGER PRIMARY KEY, time TEXT NOT NULL, address TEXT NOT NULL, "
        "client TEXT NOT NULL, outcome TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_signin_attempts_address ON signin_attempts (address, time)")
    db.execute("CREATE INDEX idx_signin_attempts_client ON signin_attempts (client, time)")
    db.execute("CREATE INDEX idx_signin_attempts_time ON signin_attempts (time)")
    # Every action taken in the console: who, what, on what, for which units, when, why, what came of it.
    db.execute(
        "CREATE TABLE console_actions (id INTEGER PRIMARY KEY, time TEXT NOT NULL, who TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, units TEXT NOT NULL, why TEXT NOT NULL, result TEXT NOT NULL)"
    )
    # Each mailbox's state and findings as last evaluated in the background, for the mailboxes page,
    # and their counts per unit, state and rule for the overview.
    db.execute(
        "CREATE TABLE mailbox_view (address TEXT PRIMARY KEY, unit TEXT NOT NULL, kind TEXT, state TEXT NOT NULL, "
        "last_login TEXT, checks_per_working_day REAL, check_target INTEGER, quota_used_bytes INTEGER, "
        "findings TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_mailbox_view_unit ON mailbox_view (unit, state, address)")
    db.execute("CREATE INDEX idx_mailbox_view_state ON mailbox_view (state, address)")
    db.execute(
        "CREATE TABLE mailbox_view_counts (unit TEXT NOT NULL, what TEXT NOT NULL, name TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (unit, what, name)) WITHOUT ROWID"
    )
    db.execute("CREATE TABLE mailbox_view_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migrations(name="0010_console_counts")
def _m10_console_counts(db: sqlite_utils.Database) -> None:
    # Findings per local day, unit and rule, kept up to date by the console's background job
    # (monitor/web/summaries.py): the overview reads a few rows instead of a day of findings. unit
    # '*' holds each finding once, whatever units it touches (the administrators' totals).
    db.execute(
        "CREATE TABLE finding_counts (day TEXT NOT NULL, unit TEXT NOT NULL, rule TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (day, unit, rule)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX idx_finding_counts_unit ON finding_counts (unit, day)")
    # The held messages' count and size, read from the index alone.
    db.execute("CREATE INDEX idx_quarantine_status_size ON quarantine (status, size)")


@migrations(name="0011_worker_failures")
def _m11_worker_failures(db: sqlite_utils.Database) -> None:
    # Messages that outlived, killed or broke an evaluation worker, by Postfix queue id (stable
    # across Postfix's retries) or content hash: the second failure decides the message.
    db.table("worker_failures").create(
        {"key": str, "first_seen": str, "last_seen": str, "failures": int, "reason": str}, pk="key"
    )
    db.table("worker_failures").create_index(["last_seen"])


@migrations(name="0012_concerns")
def _m12_concerns(db: sqlite_utils.Database) -> None:
    if db.table("concerns").exists():
        return  # recorded as 0007_concerns, the number this migration had before 0007-0011 took their places
    # Which mailboxes (and their units) a message and each of its findings are about, decided once
    # when the filter records them (rules/concerns.py); alerts, reports and metrics read it from here.
    db.execute(
        "CREATE TABLE concerns (message INTEGER NOT NULL REFERENCES messages(id), "
        "finding INTEGER REFERENCES findings(id), mailbox TEXT NOT NULL, unit TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_concerns_finding ON concerns (finding)")
    db.execute("CREATE INDEX idx_concerns_message ON concerns (message)")
    # Rows recorded before: the sender of mail going out, the directory's recipients of mail coming in.
    for owner, key in (("messages", "NULL"), ("findings", "t.id")):
        message = "t.id" if owner == "messages" else "t.message"
        db.execute(
            f"INSERT INTO concerns (message, finding, mailbox, unit) "  # noqa: S608 (fixed names)
            f"SELECT {message}, {key}, lower(t.mail_from), coalesce(b.unit, '') FROM {owner} t "
            f"LEFT JOIN mailboxes b ON b.address = lower(t.mail_from) "
            f"WHERE t.direction IN ('outbound', 'internal', 'relay') AND coalesce(t.mail_from, '') != ''"
        )
        db.execute(
            f"INSERT INTO concerns (message, finding, mailbox, unit) "  # noqa: S608 (fixed names)
            f"SELECT DISTINCT {message}, {key}, b.address, coalesce(b.unit, '') "
            f"FROM {owner} t, json_each(t.rcpt_tos) r JOIN mailboxes b ON b.address = lower(r.value) "
            "WHERE t.direction = 'inbound'"
        )
    # The console's finding counts by unit were made from each finding's sender and recipients; they
    # are made again, by what each finding is about, on the counting job's next pass.
    db.execute("DELETE FROM finding_counts")
    db.execute("DELETE FROM mailbox_view_meta WHERE key = 'findings_counted'")


@outbox_migrations(name="0001_alert_outbox")
def _outbox_m1(db: sqlite_utils.Database) -> None:
    db.table("alert_outbox").create(
        {
            "id": int,
            "created_at": str,
            "kind": str,  # alert | digest | reminder
            "unit": str,
            "dedup_key": str,
            "to_addrs": str,  # JSON list
            "subject": str,
            "text": str,
            "html": str,
            "message_id": str,  # fixed at enqueue: a resend after a lost reply carries the same id
            "status": str,  # pending | sent | failed (a permanent 5xx; kept for the operator)
            "attempts": int,
            "next_attempt_at": str,
            "last_error": str,
            "sent_at": str,
        },
        pk="id",
    )
    db.table("alert_outbox").create_index(["status", "next_attempt_at"])
    db.table("alert_outbox").create_index(["dedup_key", "created_at"])
    # Which (rule, mailbox) was alerted when: the same finding is not re-alerted within a day.
    db.table("alert_keys").create({"key": str, "unit": str, "alerted_at": str}, pk="key")
    # How far the alerting has read the findings table.
    db.table("alert_cursor").create({"name": str, "last_id": int}, pk="name")
