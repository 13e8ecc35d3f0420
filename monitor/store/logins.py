"""Login activity: events read from Dovecot's log, the per-day summary the account rules read, how far
each log was read, and last logins imported from Dovecot's last_login dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from monitor.store.connection import Database
from monitor.store.records import utcnow
from monitor.store.sql import add_login_days

_INSERT_EVENT = (
    'INSERT INTO login_events (time, "user", protocol, kind, attempts, rip, session, master) '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_SET_POSITION = (
    'INSERT INTO log_positions (fingerprint, path, "offset", updated) VALUES (?, ?, ?, ?) '
    'ON CONFLICT (fingerprint) DO UPDATE SET path = excluded.path, "offset" = excluded."offset", '
    "updated = excluded.updated"
)
Nullable = str | None

# Events per write transaction at ingest: short enough that the filter's writes barely wait.
EVENT_SLICE = 2000
_SET_LAST_LOGIN = (
    'INSERT INTO last_login ("user", time, source) VALUES (?, ?, ?) '
    'ON CONFLICT ("user") DO UPDATE SET time = excluded.time, source = excluded.source'
)


class Logins:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- ingest --------------------------------------------------------------------------------
    def position(self, fingerprint: str) -> tuple[str, int] | None:
        """(path or journald cursor, offset) stored for a log, or None if it was never read."""
        row = self._db.one('SELECT path, "offset" FROM log_positions WHERE fingerprint = ?', (fingerprint,))
        return (str(row[0]), int(row[1])) if row else None

    def record_batch(self, events: Sequence[Sequence[object]], fingerprint: str, path: str, offset: int) -> int:
        """Store login events (time, user, protocol, kind, attempts, rip, session, master), skipping those
        already stored, then the log position after them; returns how many were new.

        The events go in slices of EVENT_SLICE, each its own short transaction, the position with the
        last one: a crash in between makes the next run read those lines again, and the unique index on
        (time, kind, session) skips what was already stored, so nothing is lost or counted twice.
        """
        new = 0
        for start in range(0, len(events), EVENT_SLICE):
            new += self.record_events(events[start : start + EVENT_SLICE])
        with self._db.write():
            self._db.execute(_SET_POSITION, (fingerprint, path, offset, utcnow()))
        return new

    def record_events(self, events: Iterable[Sequence[object]]) -> int:
        """Store new login events and add them to login_days; returns how many were new."""
        with self._db.write():
            row = self._db.one("SELECT coalesce(max(id), 0) FROM login_events")
            last_id = row[0] if row else 0
            new = max(0, self._db.executemany(_INSERT_EVENT, events).rowcount)
            if new:
                self._db.execute(add_login_days(self._db), (last_id,))
        return new

    def forget_positions(self) -> None:
        """Forget how far every log was read (the next ingest rereads them; events are still counted once)."""
        with self._db.write():
            self._db.execute("DELETE FROM log_positions")

    def save_last_logins(self, last: Mapping[str, datetime], source: str) -> None:
        with self._db.write():
            self._db.executemany(_SET_LAST_LOGIN, [(u, t.isoformat(), source) for u, t in last.items()])

    # -- what the account rules read -------------------------------------------------------------
    def imported_last_logins(self) -> list[tuple[str, str]]:
        """(user, ISO time) from Dovecot's last_login dict, as last imported."""
        return [(r[0], r[1]) for r in self._db.all('SELECT "user", time FROM last_login')]

    def last_owner_logins(self, cutoff: str) -> list[tuple[str, str | None]]:
        """(mailbox, its newest day's last owner login at or before ``cutoff``) for every directory mailbox."""
        rows = self._db.all(
            'SELECT address, (SELECT max(last_login) FROM login_days WHERE "user" = address AND last_login <= ?) '
            "FROM mailboxes",
            (cutoff,),
        )
        return [(r[0], r[1]) for r in rows]

    def days_with_logins_after(self, low: str, high: str, cutoff: str) -> list[tuple[str, str]]:
        """(user, logins) of days in [low, high] whose last login is after ``cutoff``."""
        rows = self._db.all(
            'SELECT "user", logins FROM login_days WHERE day >= ? AND day <= ? AND last_login > ?', (low, high, cutoff)
        )
        return [(r[0], r[1]) for r in rows]

    def logins_per_user(
        self, first: str, last: str, until: int, with_sources: bool
    ) -> list[tuple[str, str, str, str | None]]:
        """Per user, days in [first, last] wholly at or before ``until`` (Unix time) with owner logins:
        (user, days joined by ';', logins per day joined by ';', their sources joined by ',' or None)."""
        db = self._db
        rows = db.all(
            f'SELECT "user", {db.string_agg("day", ";", "day")}, {db.string_agg("logins", ";", "day")}, '  # noqa: S608
            f"{db.string_agg('CASE WHEN ? THEN login_sources END', ',', 'day')} FROM login_days "
            'WHERE day >= ? AND day <= ? AND latest <= ? AND logins IS NOT NULL GROUP BY "user"',
            (with_sources, first, last, until),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def days_ending_after(self, first: str, last: str, until: int) -> list[tuple[str, str, str, str]]:
        """(user, day, logins, sources) of days in [first, last] with owner logins and events after ``until``."""
        rows = self._db.all(
            'SELECT "user", day, logins, login_sources FROM login_days '
            "WHERE day >= ? AND day <= ? AND latest > ? AND logins IS NOT NULL",
            (first, last, until),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def recent_days(self, low: str, high: str, since: int) -> list[tuple[str, Nullable, Nullable, Nullable, Nullable]]:
        """(user, logins, login sources, failures, failure sources) of days in [low, high] with events
        after ``since``."""
        rows = self._db.all(
            'SELECT "user", logins, login_sources, failures, failure_sources FROM login_days '
            "WHERE day >= ? AND day <= ? AND latest > ?",
            (low, high, since),
        )
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
