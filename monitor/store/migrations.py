"""The store's whole schema: versioned sqlite-utils migrations, applied in order when a store opens.

Two migration sets, applied in this order: ``mailmon`` (messages, findings, quarantine, directory,
logins, mailbox status, sending windows) and ``mailmon-exporters`` (the alert outbox). The second
keeps its own name because databases already record its migrations under it.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from monitor.store.sql import ADD_LOGIN_DAYS

migrations = Migrations("mailmon")
outbox_migrations = Migrations("mailmon-exporters")


def apply_migrations(path: Path, lock_timeout: float) -> None:
    """Bring the database at ``path`` up to date (idempotent; safe while other processes use it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


@migrations(name="0007_concerns")
def _m7_concerns(db: sqlite_utils.Database) -> None:
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
