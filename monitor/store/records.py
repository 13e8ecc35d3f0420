"""The typed rows the filter hands to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Concern:
    """One mailbox a message or finding is about, and its unit in the directory ('' when it has none)."""

    mailbox: str
    unit: str


@dataclass(frozen=True)
class FindingRecord:
    rule: str
    severity: str
    action: str
    detail: str
    citation: str
    concerns: tuple[Concern, ...] = ()


@dataclass(frozen=True)
class MessageRecord:
    """One message the filter decided on, and what became of it."""

    message_id: str
    queue_id: str
    client_addr: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    direction: str
    size: int
    verdict: str
    seconds: float
    outcome: str = ""
    concerns: tuple[Concern, ...] = ()
    time: str = field(default_factory=utcnow)
