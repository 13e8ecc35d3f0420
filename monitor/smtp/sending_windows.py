"""Outbound sending windows per sender: a stolen password shows as a burst (DN-2022 Đ13.3, Đ16.3d).

Windows are counted from rows in the store (send_events), not from memory, so a restart does not
reset them and several filter nodes sharing one store see the same counts. Over a limit, the
sender is held: further outbound mail gets 451 4.7.1 (Postfix keeps it) until the cool-down ends
or an operator runs `mailmon senders release ADDRESS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from monitor.config import RateLimit
from monitor.store import Store
from monitor.store.senders import HeldSender, WindowCounts


@dataclass(frozen=True)
class SendingWindow:
    """How much one sender may send before it is held."""

    messages_per_hour: int
    external_recipients_per_hour: int
    external_recipients_per_day: int


# Defaults by mailbox kind ([ratelimit.limits.<kind>] in config.toml overrides them), and why: an
# official writes a few dozen messages on a busy day; a unit box sends circulars to many units.
# Microsoft 365 allows 10,000 recipients a day to any mailbox, far above what a compromised
# official box should be able to send unnoticed.
DEFAULT_WINDOWS: Mapping[str, SendingWindow] = {
    "personal": SendingWindow(messages_per_hour=60, external_recipients_per_hour=60, external_recipients_per_day=300),
    "admin": SendingWindow(messages_per_hour=60, external_recipients_per_hour=60, external_recipients_per_day=300),
    "unit": SendingWindow(messages_per_hour=120, external_recipients_per_hour=150, external_recipients_per_day=800),
    "agency": SendingWindow(
        messages_per_hour=200, external_recipients_per_hour=300, external_recipients_per_day=1500
    ),
}


def windows(config: RateLimit) -> dict[str, SendingWindow]:
    """The windows by mailbox kind: the defaults, with the kinds config.toml sets replaced."""
    merged = dict(DEFAULT_WINDOWS)
    for kind, window in config.limits.items():
        merged[kind] = SendingWindow(**window.model_dump())
    return merged


@dataclass(frozen=True)
class Hold:
    sender: str
    until: datetime
    reason: str


def held(store: Store, sender: str, now: datetime) -> Hold | None:
    """The sender's running hold, if any."""
    row = store.senders.hold_of(sender)
    if row is None:
        return None
    until = datetime.fromisoformat(row.until)
    return Hold(sender, until, row.reason) if until > now else None


def over_window(counts: WindowCounts, window: SendingWindow) -> str | None:
    """Which window the counts exceed, in one line (Vietnamese / English); None if none."""
    if counts.messages_hour > window.messages_per_hour:
        return f"{counts.messages_hour} thư trong 1 giờ > {window.messages_per_hour} / messages in an hour"
    if counts.external_hour > window.external_recipients_per_hour:
        return (
            f"{counts.external_hour} người nhận bên ngoài trong 1 giờ > {window.external_recipients_per_hour} "
            "/ external recipients in an hour"
        )
    if counts.external_day > window.external_recipients_per_day:
        return (
            f"{counts.external_day} người nhận bên ngoài trong 24 giờ > {window.external_recipients_per_day} "
            "/ external recipients in a day"
        )
    return None


def record_and_check(
    store: Store,
    sender: str,
    recipients: list[tuple[str, bool]],
    message_id: str,
    now: datetime,
    limits: Mapping[str, SendingWindow],
    cooldown: timedelta,
) -> str | None:
    """Count this message; if the sender is now over a window, hold it and say which limit.

    ``message_id`` is the key that makes one message (sender_identity.queue_key: Postfix's queue
    id), kept in the column of that name; never the sender's Message-ID header, which anyone can reuse.
    """
    window = limits.get(store.mailboxes.kind_of(sender) or "personal", limits["personal"])
    stamps = (_utc(now), _utc(now - timedelta(hours=1)), _utc(now - timedelta(days=1)))
    return store.senders.record_sending(
        sender, recipients, message_id, stamps, lambda counts: over_window(counts, window), _utc(now + cooldown)
    )


def release_sender(store: Store, sender: str, now: datetime) -> bool:
    """An operator lets a held sender send again; False if it was not held."""
    return store.senders.release(sender, _utc(now))


def held_senders(store: Store, now: datetime) -> list[HeldSender]:
    return store.senders.held(_utc(now))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
