"""The typed rows the filter hands to the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


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


def dump_record(message: MessageRecord, findings: Sequence[FindingRecord], kept: str | None) -> bytes:
    """One message's record as JSON, as it is kept on disk while the database cannot take it."""
    data = {"message": asdict(message), "findings": [asdict(f) for f in findings], "kept": kept}
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def load_record(data: bytes) -> tuple[MessageRecord, list[FindingRecord], str | None]:
    """What ``dump_record`` wrote; a KeyError, TypeError or ValueError when it is not that."""
    raw = json.loads(data)

    def concerns(items: list[dict[str, Any]]) -> tuple[Concern, ...]:
        return tuple(Concern(str(c["mailbox"]), str(c["unit"])) for c in items)

    m = raw["message"]
    message = MessageRecord(
        **{**m, "rcpt_tos": tuple(str(r) for r in m["rcpt_tos"]), "concerns": concerns(m["concerns"])}
    )
    findings = [FindingRecord(**{**f, "concerns": concerns(f["concerns"])}) for f in raw["findings"]]
    kept = raw["kept"]
    if kept is not None and not isinstance(kept, str):
        raise ValueError(f"kept is not a quarantine id: {kept!r}")
    return message, findings, kept
