"""Messages the filter decided on, their findings, and the mailboxes and units each is about."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.store.connection import Database
from monitor.store.records import Concern, FindingRecord, MessageRecord

_INSERT_MESSAGE = (
    "INSERT INTO messages (time, message_id, queue_id, client_addr, mail_from, rcpt_tos, direction, size, "
    "verdict, outcome, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_INSERT_FINDING = (
    "INSERT INTO findings (message, time, message_id, queue_id, mail_from, rcpt_tos, direction, rule, severity, "
    "action, detail, citation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_INSERT_CONCERN = "INSERT INTO concerns (message, finding, mailbox, unit) VALUES (?, ?, ?, ?)"
# The unit recorded with a concern, else (the directory did not know the mailbox then) the directory's now.
_UNIT = "CASE WHEN c.unit <> '' THEN c.unit ELSE coalesce(b.unit, '') END"
_CONCERNS = "JOIN concerns c ON c.finding = f.id LEFT JOIN mailboxes b ON b.address = c.mailbox"


@dataclass(frozen=True)
class ConcernedFinding:
    """A recorded finding together with one mailbox it is about."""

    id: int
    rule: str
    detail: str
    citation: str
    action: str
    time: str
    mailbox: str
    unit: str


class Messages:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, message: MessageRecord, findings: Sequence[FindingRecord]) -> int:
        """One message, its findings and their concerns, in one transaction; returns the message id."""
        rcpts = json.dumps(list(message.rcpt_tos))
        with self._db.write():
            message_pk = self._db.insert(
                _INSERT_MESSAGE,
                (
                    message.time,
                    message.message_id,
                    message.queue_id,
                    message.client_addr,
                    message.mail_from,
                    rcpts,
                    message.direction,
                    message.size,
                    message.verdict,
                    message.outcome,
                    message.seconds,
                ),
            )
            self._concerns(message_pk, None, message.concerns)
            for f in findings:
                finding_pk = self._db.insert(
                    _INSERT_FINDING,
                    (
                        message_pk,
                        message.time,
                        message.message_id,
                        message.queue_id,
                        message.mail_from,
                        rcpts,
                        message.direction,
                        f.rule,
                        f.severity,
                        f.action,
                        f.detail,
                        f.citation,
                    ),
                )
                self._concerns(message_pk, finding_pk, f.concerns)
        return message_pk

    def recorded(self, message: MessageRecord, among_newest: int = 10_000) -> bool:
        """Whether ``message`` (same time, queue id and Message-ID) is among the ``among_newest`` rows.

        A record kept on disk while it waited may have been written just before the process died
        (before its file was removed); replaying it then would count it twice. The look is bounded
        to the newest rows, by primary key, so it costs the same on a table of any size.
        """
        row = self._db.one(
            "SELECT count(*) FROM (SELECT time, queue_id, message_id FROM messages ORDER BY id DESC LIMIT ?) newest "
            "WHERE time = ? AND queue_id = ? AND message_id = ?",
            (among_newest, message.time, message.queue_id, message.message_id),
        )
        return bool(row and row[0])

    def _concerns(self, message: int, finding: int | None, concerns: Sequence[Concern]) -> None:
        if concerns:
            self._db.executemany(_INSERT_CONCERN, [(message, finding, c.mailbox, c.unit) for c in concerns])

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest messages first."""
        return [_decoded(r) for r in self._db.dicts("SELECT * FROM messages ORDER BY id DESC LIMIT ?", (limit,))]

    def recent_findings(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest findings first."""
        return [_decoded(r) for r in self._db.dicts("SELECT * FROM findings ORDER BY id DESC LIMIT ?", (limit,))]

    def concerns_of_message(self, message: int) -> list[tuple[int | None, str, str]]:
        """(finding id or None for the message itself, mailbox, unit) of one recorded message."""
        rows = self._db.all(
            "SELECT finding, mailbox, unit FROM concerns WHERE message = ? ORDER BY coalesce(finding, 0), mailbox",
            (message,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def newest_finding_id(self) -> int:
        row = self._db.one("SELECT coalesce(max(id), 0) FROM findings")
        return int(row[0]) if row else 0

    def findings_after(self, last_id: int, rules: Sequence[str]) -> list[ConcernedFinding]:
        """Findings of ``rules`` recorded after ``last_id``, one row per mailbox each is about, in order."""
        if not rules:
            return []
        marks = ", ".join("?" * len(rules))
        rows = self._db.all(
            f"SELECT f.id, f.rule, f.detail, f.citation, f.action, f.time, c.mailbox, {_UNIT} "  # noqa: S608
            f"FROM findings f {_CONCERNS} WHERE f.id > ? AND f.rule IN ({marks}) ORDER BY f.id, c.mailbox",
            (last_id, *rules),
        )
        return [ConcernedFinding(*r) for r in rows]

    def findings_by_unit(self, start: str, end: str) -> list[tuple[str, str, str, str]]:
        """(time, rule, action, unit) of each finding in [start, end) and each unit it is about, once per unit."""
        rows = self._db.all(
            f"SELECT DISTINCT f.id, f.time, f.rule, f.action, {_UNIT} FROM findings f {_CONCERNS} "  # noqa: S608
            "WHERE f.time >= ? AND f.time < ?",
            (start, end),
        )
        return [(r[1], r[2], r[3], r[4]) for r in rows]

    def verdicts_by_unit(self, start: str, end: str) -> list[tuple[str, str]]:
        """(verdict, unit) of each message in [start, end) and each unit it is about, once per unit."""
        rows = self._db.all(
            f"SELECT DISTINCT m.id, m.verdict, {_UNIT} FROM messages m "  # noqa: S608 (fixed text)
            "JOIN concerns c ON c.message = m.id AND c.finding IS NULL LEFT JOIN mailboxes b ON b.address = c.mailbox "
            "WHERE m.time >= ? AND m.time < ?",
            (start, end),
        )
        return [(r[1], r[2]) for r in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("rcpt_tos"), str):
        row["rcpt_tos"] = json.loads(row["rcpt_tos"])
    return row
