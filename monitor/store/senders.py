"""Outbound sending per sender (send_events) and the senders held for going over a window."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.store.connection import Database

_HOLD = (
    "INSERT INTO held_senders (sender, since, until, reason, released_at) VALUES (?, ?, ?, ?, NULL) "
    "ON CONFLICT (sender) DO UPDATE SET since = excluded.since, until = excluded.until, "
    "reason = excluded.reason, released_at = NULL"
)


@dataclass(frozen=True)
class WindowCounts:
    """What one sender sent: messages and distinct external recipients in the last hour, and in the last day."""

    messages_hour: int
    external_hour: int
    external_day: int


@dataclass(frozen=True)
class HeldSender:
    sender: str
    since: str
    until: str
    reason: str


class Senders:
    def __init__(self, db: Database) -> None:
        self._db = db

    def hold_of(self, sender: str) -> HeldSender | None:
        """The sender's hold, unless released (whether it is still running is the caller's question)."""
        row = self._db.one(
            "SELECT sender, since, until, reason FROM held_senders WHERE sender = ? AND released_at IS NULL",
            (sender.lower(),),
        )
        return HeldSender(*row) if row else None

    def held(self, now: str) -> list[HeldSender]:
        """Senders held at ``now``, longest held first."""
        rows = self._db.all(
            "SELECT sender, since, until, reason FROM held_senders WHERE released_at IS NULL AND until > ? "
            "ORDER BY since",
            (now,),
        )
        return [HeldSender(*r) for r in rows]

    def record_sending(
        self,
        sender: str,
        recipients: Sequence[tuple[str, bool]],
        message_id: str,
        stamps: tuple[str, str, str],
        judge: Callable[[WindowCounts], str | None],
        until: str,
    ) -> str | None:
        """Count one message (its recipients, each flagged external or not) and judge the windows, in one
        transaction. ``stamps`` is (now, an hour ago, a day ago). When ``judge`` gives a reason the sender
        is held until ``until`` and this message's events are forgotten (it is not sent); returns the reason.
        """
        sender = sender.lower()
        now, hour, day = stamps
        with self._db.write():
            # Two filter nodes counting the same sender's burst wait for each other here (PostgreSQL;
            # SQLite writes one transaction at a time anyway): each sees the other's messages.
            self._db.lock("sender:" + sender)
            self._db.executemany(
                "INSERT INTO send_events (sender, time, rcpt, external, message_id) VALUES (?, ?, ?, ?, ?)",
                [(sender, now, r.lower(), int(ext), message_id) for r, ext in recipients],
            )
            row = self._db.one(
                "SELECT count(DISTINCT message_id), count(DISTINCT CASE WHEN external = 1 THEN rcpt END) "
                "FROM send_events WHERE sender = ? AND time > ?",
                (sender, hour),
            )
            day_row = self._db.one(
                "SELECT count(DISTINCT rcpt) FROM send_events WHERE sender = ? AND external = 1 AND time > ?",
                (sender, day),
            )
            assert row is not None and day_row is not None
            reason = judge(WindowCounts(int(row[0]), int(row[1]), int(day_row[0])))
            if reason:
                self._db.execute(_HOLD, (sender, now, until, reason))
                self._db.execute(
                    "DELETE FROM send_events WHERE sender = ? AND message_id = ? AND time = ?",
                    (sender, message_id, now),
                )
        return reason

    def release(self, sender: str, now: str) -> bool:
        """End a hold and start the sender's windows afresh; False if the sender was not held."""
        sender = sender.lower()
        with self._db.write():
            cursor = self._db.execute(
                "UPDATE held_senders SET released_at = ? WHERE sender = ? AND released_at IS NULL", (now, sender)
            )
            if cursor.rowcount == 0:
                return False
            # The operator vouches for what was sent so far.
            self._db.execute("DELETE FROM send_events WHERE sender = ?", (sender,))
        return True
