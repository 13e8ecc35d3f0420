"""The store's whole schema: numbered migrations, applied in order when a store opens, on either back end.

Each migration is a function of the connection (monitor/store/connection.py) that runs plain SQL:
tables are written as SQLite creates them and ``Database.ddl`` spells them for PostgreSQL (a 64-bit
identity for ``INTEGER PRIMARY KEY``, ``BIGINT`` for ``INTEGER``); the few data statements that differ
ask the connection for their expressions. Each migration and the record that it ran commit together,
under the ``migrations`` lock, so two nodes starting at once apply each migration once.

Two sets, in this order: ``mailmon`` (messages, findings, quarantine, directory, logins, mailbox status,
sending windows, console) and ``mailmon-exporters`` (the alert outbox), whose name databases already
record. SQLite databases keep the record in ``_sqlite_migrations``, where they have always kept it;
PostgreSQL ones in ``schema_migrations``.

Migrations are written by hand rather than with a migration framework: the schema is small, both
engines run the same functions, and a framework that speaks both (Alembic) would bring an ORM's
metadata layer the store does not otherwise use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from monitor.store.connection import Database
from monitor.store.sql import add_login_days

Migration = Callable[[Database], None]


@dataclass(frozen=True)
class Step:
    migration_set: str
    name: str
    run: Migration


STEPS: list[Step] = []


def _step(migration_set: str, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        STEPS.append(Step(migration_set, name, fn))
        return fn

    return register


def migration(name: str) -> Callable[[Migration], Migration]:
    return _step("mailmon", name)


def outbox_migration(name: str) -> Callable[[Migration], Migration]:
    return _step("mailmon-exporters", name)


def records_table(db: Database) -> str:
    return "_sqlite_migrations" if db.dialect == "sqlite" else "schema_migrations"


def applied(db: Database) -> set[tuple[str, str]]:
    """(set, name) of every migration the database records."""
    if not db.table_exists(records_table(db)):
        return set()
    return {(r[0], r[1]) for r in db.all(f"SELECT migration_set, name FROM {records_table(db)}")}  # noqa: S608


def apply_migrations(db: Database, *, stop_before: str | None = None) -> list[str]:
    """Bring the database up to date (idempotent; safe while other processes use it); returns the names
    applied. ``stop_before`` leaves that migration and the later ones out (tests build old schemas so)."""
    if db.dialect == "sqlite":
        db.execute("PRAGMA journal_mode = WAL")  # cannot change inside a transaction
    table = records_table(db)
    done_before = applied(db)
    if all((s.migration_set, s.name) in done_before for s in _pending(STEPS, stop_before)):
        return []  # the usual case, a current database: no write, no lock (the metrics scrape opens it often)
    with db.write():
        db.lock("migrations")
        db.execute(
            db.ddl(
                f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, "
                "applied_at TEXT)"
            )
        )
        db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS idx_{table}_migration_set_name ON {table} (migration_set, name)")
    done: list[str] = []
    for step in _pending(STEPS, stop_before):
        with db.write():
            db.lock("migrations")
            if (step.migration_set, step.name) in applied(db):
                continue  # another node applied it while this one waited
            step.run(db)
            db.execute(
                f"INSERT INTO {table} (migration_set, name, applied_at) VALUES (?, ?, ?)",  # noqa: S608
                (step.migration_set, step.name, _now()),
            )
        done.append(step.name)
    return done


def _pending(steps: Iterable[Step], stop_before: str | None) -> list[Step]:
    out = []
    for step in steps:
        if step.name == stop_before:
            break
        out.append(step)
    return out


def _now() -> str:
    from datetime import UTC, datetime

    return str(datetime.now(UTC))


def _create(db: Database, sql: str) -> None:
    db.execute(db.ddl(sql))


@migration("0001_enable_wal")
def _m1_wal(db: Database) -> None:
    """SQLite's write-ahead log, set by apply_migrations before any transaction (PostgreSQL has its own)."""


@migration("0002_messages_findings_quarantine")
def _m2_tables(db: Database) -> None:
    _create(
        db,
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, time TEXT, message_id TEXT, queue_id TEXT, client_addr TEXT, "
        "mail_from TEXT, rcpt_tos TEXT, direction TEXT, size INTEGER, verdict TEXT, outcome TEXT, seconds REAL)",
    )
    _create(
        db,
        "CREATE TABLE findings (id INTEGER PRIMARY KEY, message INTEGER REFERENCES messages(id), time TEXT, "
        "message_id TEXT, queue_id TEXT, mail_from TEXT, rcpt_tos TEXT, direction TEXT, rule TEXT, severity TEXT, "
        "action TEXT, detail TEXT, citation TEXT)",
    )
    db.execute("CREATE INDEX idx_findings_time ON findings (time)")
    db.execute("CREATE INDEX idx_findings_rule_time ON findings (rule, time)")
    _create(
        db,
        "CREATE TABLE quarantine (id TEXT PRIMARY KEY, time TEXT, message INTEGER, message_id TEXT, queue_id TEXT, "
        "mail_from TEXT, rcpt_tos TEXT, direction TEXT, verdict TEXT, reason TEXT, path TEXT, size INTEGER, "
        "sha256 TEXT, status TEXT)",
    )
    db.execute("CREATE INDEX idx_quarantine_status_time ON quarantine (status, time)")


@migration("0003_directory_activity")
def _m3_directory_activity(db: Database) -> None:
    _create(db, "CREATE TABLE units (unit TEXT PRIMARY KEY, name TEXT, parent TEXT, it_contact TEXT, updated TEXT)")
    _create(
        db,
        "CREATE TABLE mailboxes (address TEXT PRIMARY KEY, display_name TEXT, unit TEXT, kind TEXT, status TEXT, "
        "created_at TEXT, password_changed_at TEXT, quota_mb INTEGER, updated TEXT)",
    )
    db.execute("CREATE INDEX idx_mailboxes_unit ON mailboxes (unit)")
    _create(
        db,
        'CREATE TABLE login_events (id INTEGER PRIMARY KEY, time TEXT, "user" TEXT, protocol TEXT, kind TEXT, '
        "attempts INTEGER, rip TEXT, session TEXT, master INTEGER)",
    )
    db.execute("CREATE UNIQUE INDEX idx_login_events_kind_session ON login_events (kind, session)")
    db.execute('CREATE INDEX idx_login_events_user_time ON login_events ("user", time)')
    _create(db, 'CREATE TABLE log_positions (fingerprint TEXT PRIMARY KEY, path TEXT, "offset" INTEGER, updated TEXT)')
    _create(db, 'CREATE TABLE last_login ("user" TEXT PRIMARY KEY, time TEXT, source TEXT)')


@migration("0004_mailbox_status")
def _m4_mailbox_status(db: Database) -> None:
    _create(
        db,
        "CREATE TABLE mailbox_status (address TEXT PRIMARY KEY, polled_at TEXT, quota_used_bytes INTEGER, "
        "quota_limit_bytes INTEGER, inbox_messages INTEGER, oldest_unseen TEXT, sieve_forwards TEXT, error TEXT)",
    )
    _create(db, "CREATE TABLE mailbox_history (address TEXT, status TEXT, since TEXT, PRIMARY KEY (address, status))")


@migration("0005_send_windows")
def _m5_send_windows(db: Database) -> None:
    # One row per outbound message and recipient: the sliding windows are counted from these, so
    # several filter nodes sharing one store see the same windows.
    _create(
        db,
        "CREATE TABLE send_events (id INTEGER PRIMARY KEY, sender TEXT, time TEXT, rcpt TEXT, external INTEGER, "
        "message_id TEXT)",
    )
    db.execute("CREATE INDEX idx_send_events_sender_time ON send_events (sender, time)")
    _create(
        db,
        "CREATE TABLE held_senders (sender TEXT PRIMARY KEY, since TEXT, until TEXT, reason TEXT, released_at TEXT)",
    )


@migration("0006_login_days")
def _m6_login_days(db: Database) -> None:
    # An event is the same event when its time, kind and session are: that unique index grows at its
    # end as the log does, where the (kind, session) one took a random insert per event; the account
    # rules read login_days instead of (user, time).
    db.execute("DROP INDEX idx_login_events_kind_session")
    db.execute("DROP INDEX idx_login_events_user_time")
    db.execute("CREATE UNIQUE INDEX idx_login_events_time_kind_session ON login_events (time, kind, session)")
    _create(
        db,
        'CREATE TABLE login_days (day TEXT NOT NULL, "user" TEXT NOT NULL, logins TEXT, login_sources TEXT, '
        'failures TEXT, failure_sources TEXT, last_login TEXT, latest INTEGER, PRIMARY KEY (day, "user")) '
        "WITHOUT ROWID",
    )
    db.execute('CREATE INDEX idx_login_days_user_last_login ON login_days ("user", last_login)')
    db.execute(add_login_days(db), (0,))


@migration("0007_quarantine_releases")
def _m7_quarantine_releases(db: Database) -> None:
    # Who released which quarantined message, when and why (monitor/store/releases.py).
    _create(
        db,
        "CREATE TABLE quarantine_releases (id INTEGER PRIMARY KEY, quarantine_id TEXT, time TEXT, who TEXT, "
        "why TEXT, was TEXT, reply TEXT)",
    )
    db.execute("CREATE INDEX idx_quarantine_releases_quarantine_id ON quarantine_releases (quarantine_id)")


@migration("0008_requests_unit_people")
def _m8_requests_unit_people(db: Database) -> None:
    # A unit's requests to the IT department (create, change, reset, close, restore a mailbox) and when
    # each was done: the profile's deadlines are counted from requested_at (monitor/store/requests.py).
    _create(
        db,
        "CREATE TABLE it_requests (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, mailbox TEXT NOT NULL, "
        "unit TEXT NOT NULL, requested_at TEXT NOT NULL, completed_at TEXT, note TEXT, recorded_at TEXT)",
    )
    db.execute("CREATE INDEX idx_it_requests_mailbox_kind ON it_requests (mailbox, kind)")
    db.execute("CREATE INDEX idx_it_requests_completed_at ON it_requests (completed_at)")
    # Who has been each unit's head, and its box's holder, since when (monitor/store/unit_people.py):
    # a new row when the directory names someone else; the unit-handover rule reads the latest change.
    _create(
        db,
        "CREATE TABLE unit_people (unit TEXT, role TEXT, person TEXT, since TEXT, recorded_at TEXT, "
        "PRIMARY KEY (unit, role, since))",
    )
    # The last password reset the directory knows of (resets done outside `mailmon requests`).
    db.execute("ALTER TABLE mailboxes ADD COLUMN password_reset_at TEXT")


@migration("0009_console")
def _m9_console(db: Database) -> None:
    # The operators' console (monitor/store/console.py, monitor/store/console_sessions.py).
    # Every address a quarantined message is from or to, lower case: which units may see it is
    # decided when asked, through the directory as it is then (a message touching two units is both's).
    _create(
        db,
        "CREATE TABLE quarantine_parties (quarantine_id TEXT NOT NULL, address TEXT NOT NULL, "
        "PRIMARY KEY (address, quarantine_id)) WITHOUT ROWID",
    )
    db.execute("CREATE INDEX idx_quarantine_parties_id ON quarantine_parties (quarantine_id)")
    db.execute(
        # "WHERE true": an INSERT … SELECT with an upsert clause needs a WHERE (SQLite's parser).
        "INSERT INTO quarantine_parties (quarantine_id, address) SELECT * FROM ("  # noqa: S608 (fixed text)
        "SELECT id, lower(mail_from) FROM quarantine WHERE coalesce(mail_from, '') != '' "
        f"UNION SELECT q.id, lower(r.value) FROM quarantine q, {db.json_items('q.rcpt_tos', 'r')}"
        ") AS parties WHERE true ON CONFLICT DO NOTHING"
    )
    # The quarantine list pages by (time, id), newest first; a message view reads its findings.
    db.execute("CREATE INDEX idx_quarantine_time_id ON quarantine (time, id)")
    db.execute("CREATE INDEX idx_findings_message ON findings (message)")
    # Sessions: the SHA-256 of the cookie's random value (the database never holds a usable cookie).
    _create(
        db,
        "CREATE TABLE console_sessions (id TEXT PRIMARY KEY, address TEXT NOT NULL, csrf TEXT NOT NULL, "
        "created_at TEXT NOT NULL, last_seen TEXT NOT NULL, client TEXT NOT NULL)",
    )
    db.execute("CREATE INDEX idx_console_sessions_last_seen ON console_sessions (last_seen)")
    # Sign-in attempts, kept so that the limits survive a restart.
    _create(
        db,
        "CREATE TABLE signin_attempts (id INTEGER PRIMARY KEY, time TEXT NOT NULL, address TEXT NOT NULL, "
        "client TEXT NOT NULL, outcome TEXT NOT NULL)",
    )
    db.execute("CREATE INDEX idx_signin_attempts_address ON signin_attempts (address, time)")
    db.execute("CREATE INDEX idx_signin_attempts_client ON signin_attempts (client, time)")
    db.execute("CREATE INDEX idx_signin_attempts_time ON signin_attempts (time)")
    # Every action taken in the console: who, what, on what, for which units, when, why, what came of it.
    _create(
        db,
        "CREATE TABLE console_actions (id INTEGER PRIMARY KEY, time TEXT NOT NULL, who TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, units TEXT NOT NULL, why TEXT NOT NULL, result TEXT NOT NULL)",
    )
    # Each mailbox's state and findings as last evaluated in the background, for the mailboxes page,
    # and their counts per unit, state and rule for the overview.
    _create(
        db,
        "CREATE TABLE mailbox_view (address TEXT PRIMARY KEY, unit TEXT NOT NULL, kind TEXT, state TEXT NOT NULL, "
        "last_login TEXT, checks_per_working_day REAL, check_target INTEGER, quota_used_bytes INTEGER, "
        "findings TEXT NOT NULL)",
    )
    db.execute("CREATE INDEX idx_mailbox_view_unit ON mailbox_view (unit, state, address)")
    db.execute("CREATE INDEX idx_mailbox_view_state ON mailbox_view (state, address)")
    _create(
        db,
        "CREATE TABLE mailbox_view_counts (unit TEXT NOT NULL, what TEXT NOT NULL, name TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (unit, what, name)) WITHOUT ROWID",
    )
    _create(db, "CREATE TABLE mailbox_view_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration("0010_console_counts")
def _m10_console_counts(db: Database) -> None:
    # Findings per local day, unit and rule, kept up to date by the console's background job
    # (monitor/web/summaries.py): the overview reads a few rows instead of a day of findings. unit
    # '*' holds each finding once, whatever units it touches (the administrators' totals).
    _create(
        db,
        "CREATE TABLE finding_counts (day TEXT NOT NULL, unit TEXT NOT NULL, rule TEXT NOT NULL, "
        "n INTEGER NOT NULL, PRIMARY KEY (day, unit, rule)) WITHOUT ROWID",
    )
    db.execute("CREATE INDEX idx_finding_counts_unit ON finding_counts (unit, day)")
    # The held messages' count and size, read from the index alone.
    db.execute("CREATE INDEX idx_quarantine_status_size ON quarantine (status, size)")


@migration("0011_worker_failures")
def _m11_worker_failures(db: Database) -> None:
    # Messages that outlived, killed or broke an evaluation worker, by Postfix queue id (stable
    # across Postfix's retries) or content hash: the second failure decides the message.
    _create(
        db,
        "CREATE TABLE worker_failures (key TEXT PRIMARY KEY, first_seen TEXT, last_seen TEXT, failures INTEGER, "
        "reason TEXT)",
    )
    db.execute("CREATE INDEX idx_worker_failures_last_seen ON worker_failures (last_seen)")


@migration("0012_concerns")
def _m12_concerns(db: Database) -> None:
    if db.table_exists("concerns"):
        return  # recorded as 0007_concerns, the number this migration had before 0007-0011 took their places
    # Which mailboxes (and their units) a message and each of its findings are about, decided once
    # when the filter records them (rules/concerns.py); alerts, reports and metrics read it from here.
    _create(
        db,
        "CREATE TABLE concerns (message INTEGER NOT NULL REFERENCES messages(id), "
        "finding INTEGER REFERENCES findings(id), mailbox TEXT NOT NULL, unit TEXT NOT NULL)",
    )
    db.execute("CREATE INDEX idx_concerns_finding ON concerns (finding)")
    db.execute("CREATE INDEX idx_concerns_message ON concerns (message)")
    # Rows recorded before: the sender of mail going out, the directory's recipients of mail coming in.
    for owner, key in (("messages", "CAST(NULL AS INTEGER)"), ("findings", "t.id")):
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
            f"FROM {owner} t CROSS JOIN {db.json_items('t.rcpt_tos', 'r')} "
            "JOIN mailboxes b ON b.address = lower(r.value) WHERE t.direction = 'inbound'"
        )
    # The console's finding counts by unit were made from each finding's sender and recipients; they
    # are made again, by what each finding is about, on the counting job's next pass.
    db.execute("DELETE FROM finding_counts")
    db.execute("DELETE FROM mailbox_view_meta WHERE key = 'findings_counted'")


@migration("0013_quarantine_messages")
def _m13_quarantine_messages(db: Database) -> None:
    # The bytes of quarantined messages when they are kept in the database (``[storage] quarantine_in``,
    # the default with PostgreSQL: every node shows, releases and deletes what any node kept). Removed
    # with the entry's release or deletion; the index row stays.
    _create(db, "CREATE TABLE quarantine_messages (id TEXT PRIMARY KEY REFERENCES quarantine(id), data BLOB NOT NULL)")


@migration("0014_job_runs")
def _m14_job_runs(db: Database) -> None:
    # When each scheduled job last started, on whichever node ran it (monitor/store/leadership.py).
    _create(db, "CREATE TABLE job_runs (name TEXT PRIMARY KEY, started TEXT NOT NULL)")


@outbox_migration("0001_alert_outbox")
def _outbox_m1(db: Database) -> None:
    # kind: alert | digest | reminder; to_addrs: a JSON list; message_id fixed at enqueue (a resend after
    # a lost reply carries the same id); status: pending | sent | failed (a permanent 5xx, kept).
    _create(
        db,
        "CREATE TABLE alert_outbox (id INTEGER PRIMARY KEY, created_at TEXT, kind TEXT, unit TEXT, dedup_key TEXT, "
        "to_addrs TEXT, subject TEXT, text TEXT, html TEXT, message_id TEXT, status TEXT, attempts INTEGER, "
        "next_attempt_at TEXT, last_error TEXT, sent_at TEXT)",
    )
    db.execute("CREATE INDEX idx_alert_outbox_status_next_attempt_at ON alert_outbox (status, next_attempt_at)")
    db.execute("CREATE INDEX idx_alert_outbox_dedup_key_created_at ON alert_outbox (dedup_key, created_at)")
    # Which (rule, mailbox) was alerted when: the same finding is not re-alerted within a day.
    _create(db, "CREATE TABLE alert_keys (key TEXT PRIMARY KEY, unit TEXT, alerted_at TEXT)")
    # How far the alerting has read the findings table.
    _create(db, "CREATE TABLE alert_cursor (name TEXT PRIMARY KEY, last_id INTEGER)")
