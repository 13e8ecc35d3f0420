"""Outbound sending windows per sender: a stolen password shows as a burst (DN-2022 Đ13.3, Đ16.3d).

Windows are counted from rows in the store (send_events), not from memory, so a restart does not
reset them and several filter nodes sharing one store see the same counts. Over a limit, the
sender is held: further outbound mail gets 451 4.7.1 (Postfix keeps it) until the cool-down ends
or an operator runs `mailmon senders release ADDRESS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.store import Store


@dataclass(frozen=True)
class Limits:
    messages_per_hour: int
    external_recipients_per_hour: int
    external_recipients_per_day: int


# Defaults by mailbox kind, and why: an official writes a few dozen messages on a busy day; a
# unit box sends circulars to many units. Microsoft 365 allows 10,000 recipients a day to any
# mailbox, far above what a compromised official box should be able to send unnoticed.
DEFAULT_LIMITS = {
    "personal": Limits(messages_per_hour=60, external_recipients_per_hour=60, external_recipients_per_day=300),
    "admin": Limits(messages_per_hour=60, external_recipients_per_hour=60, external_recipients_per_day=300),
    "unit": Limits(messages_per_hour=120, external_recipients_per_hour=150, external_recipients_per_day=800),
    "agency": Limits(messages_per_hour=200, external_recipients_per_hour=300, external_recipients_per_day=1500),
}


@dataclass(frozen=True)
class Hold:
    sender: str
    until: datetime
    reason: str


def held(store: Store, sender: str, now: datetime) -> Hold | None:
    row = next(iter(store.db.table("held_senders").rows_where("sender = ?", [sender.lower()])), None)
    if row is None or row["released_at"]:
        return None
    until = datetime.fromisoformat(row["until"])
    return Hold(sender, until, row["reason"]) if until > now else None


def kind_of(store: Store, sender: str) -> str:
    row = next(iter(store.db.table("mailboxes").rows_where("address = ?", [sender.lower()])), None)
    return str(row["kind"]) if row else "personal"


def record_and_check(
    store: Store,
    sender: str,
    recipients: list[tuple[str, bool]],
    message_id: str,
    now: datetime,
    limits: dict[str, Limits],
    cooldown: timedelta,
) -> str | None:
    """Count this message; if the sender is now over a window, hold it and say which limit.

    ``message_id`` is the key that makes one message (sender_identity.queue_key: Postfix's queue
    id), kept in the column of that name; never the sender's Message-ID header, which anyone can reuse.
    """
    sender = sender.lower()
    stamp = now.astimezone(UTC).isoformat()
    db = store.db
    with db.atomic():
        db.table("send_events").insert_all(
            {"sender": sender, "time": stamp, "rcpt": r.lower(), "external": int(ext), "message_id": message_id}
            for r, ext in recipients
        )
        hour = (now - timedelta(hours=1)).astimezone(UTC).isoformat()
        day = (now - timedelta(days=1)).astimezone(UTC).isoformat()
        messages, ext_hour = db.execute(
            "select count(distinct message_id), count(distinct case when external = 1 then rcpt end) "
            "from send_events where sender = ? and time > ?",
            [sender, hour],
        ).fetchone()
        (ext_day,) = db.execute(
            "select count(distinct rcpt) from send_events where sender = ? and external = 1 and time > ?",
            [sender, day],
        ).fetchone()
        limit = limits.get(kind_of(store, sender), limits["personal"])
        reason = None
        if messages > limit.messages_per_hour:
            reason = f"{messages} thư trong 1 giờ > {limit.messages_per_hour} / messages in an hour"
        elif ext_hour > limit.external_recipients_per_hour:
            reason = (
                f"{ext_hour} người nhận bên ngoài trong 1 giờ > {limit.external_recipients_per_hour} "
                "/ external recipients in an hour"
            )
        elif ext_day > limit.external_recipients_per_day:
            reason = (
                f"{ext_day} người nhận bên ngoài trong 24 giờ > {limit.external_recipients_per_day} "
                "/ external recipients in a day"
            )
        if reason:
            db.table("held_senders").upsert(
                {
                    "sender": sender,
                    "since": stamp,
                    "until": (now + cooldown).astimezone(UTC).isoformat(),
                    "reason": reason,
                    "released_at": None,
                },
                pk="sender",
            )
            # The message that crossed the line is not sent either: forget its events.
            db.execute(
                "delete from send_events where sender = ? and message_id = ? and time = ?", [sender, message_id, stamp]
            )
    return reason


def release(store: Store, sender: str, now: datetime) -> bool:
    table = store.db.table("held_senders")
    if not list(table.rows_where("sender = ? and released_at is null", [sender.lower()])):
        return False
    with store.db.atomic():
        table.update(sender.lower(), {"released_at": now.astimezone(UTC).isoformat()})
        # The operator vouches for what was sent so far: the windows start afresh.
        store.db.execute("delete from send_events where sender = ?", [sender.lower()])
    return True


def held_list(store: Store, now: datetime) -> list[dict[str, object]]:
    return [
        r
        for r in store.db.table("held_senders").rows_where("released_at is null", order_by="since")
        if datetime.fromisoformat(r["until"]) > now
    ]
