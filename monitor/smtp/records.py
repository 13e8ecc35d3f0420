"""What the filter records about each message: the message, its findings, and which mailboxes and
units each is about (rules/concerns.py decides the mailboxes, the directory their units).

The same answer goes to the metrics (the ``unit`` label of ``mailmon_findings_total``) and to the
store, where alerts and reports read it. The message itself is already safe when this runs
(delivered or kept): a record the database does not take yet waits in ``PendingWrites``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from monitor.smtp.events import FilterEvents
from monitor.store import AsyncStore, Concern, FindingRecord, MessageRecord, Store
from monitor.store.pending import PendingWrites
from monitor.store.records import dump_record, load_record
from rules.base import Finding
from rules.concerns import concerned_mailboxes
from rules.facts import Domains

log = logging.getLogger("mailmon.filter")


class Recorder:
    def __init__(self, store: AsyncStore, domains: Domains, events: FilterEvents, pending: PendingWrites) -> None:
        self.store, self.domains, self.events, self.pending = store, domains, events, pending

    def concerned(self, message: MessageRecord, named: tuple[str, ...] = ()) -> tuple[str, ...]:
        return concerned_mailboxes(message.mail_from, message.rcpt_tos, message.direction, self.domains.is_local, named)

    async def record(
        self,
        message: MessageRecord,
        findings: Sequence[Finding],
        action: str | None = None,
        kept: str | None = None,
    ) -> None:
        """The message, its findings, and which mailboxes and units each is about, to the metrics and the
        store; ``action`` names what was done instead of each finding's own action ("hold"); ``kept``
        is the message's quarantine entry, linked to the record (the console shows its findings). The
        message itself is already safe (delivered or kept); a record the database does not take now
        waits in ``pending`` and is retried."""
        mailboxes = [self.concerned(message, (f.mailbox,)) for f in findings]
        about_message = self.concerned(message, tuple(f.mailbox for f in findings))
        units = await self._units_of({m for boxes in mailboxes for m in boxes} | set(about_message))
        records = [
            FindingRecord(
                rule=f.rule,
                severity=str(f.severity),
                action=action or str(f.action),
                detail=f.detail,
                citation=f.citation,
                concerns=tuple(Concern(m, units.get(m, "")) for m in boxes),
            )
            for f, boxes in zip(findings, mailboxes, strict=True)
        ]
        message = replace(message, concerns=tuple(Concern(m, units.get(m, "")) for m in about_message))
        self.events.message_filtered(message.direction, message.verdict, message.seconds, message.size)
        for record in records:
            # One count per finding, under the unit of the first mailbox it is about.
            unit = record.concerns[0].unit if record.concerns else ""
            self.events.finding(record.rule, record.action, unit or None)

        await self.pending.write(_writer(message, records, kept), _what(message), dump_record(message, records, kept))

    @staticmethod
    def load(data: bytes) -> tuple[Callable[[Store], object], str]:
        """A record kept on disk by ``PendingWrites``, back as a write; one already in the store (the
        process died between writing it and removing its file) is not written again."""
        message, records, kept = load_record(data)
        write = _writer(message, records, kept)

        def once(store: Store) -> None:
            if not store.messages.recorded(message):
                write(store)

        return once, _what(message)

    async def _units_of(self, addresses: set[str]) -> dict[str, str]:
        if not addresses:
            return {}
        try:
            return await self.store.call(lambda store: store.mailboxes.units_of(addresses))
        except Exception:
            log.exception("could not read the directory; the record says no unit")
            return {}


def _writer(message: MessageRecord, records: Sequence[FindingRecord], kept: str | None) -> Callable[[Store], None]:
    def write(store: Store) -> None:
        with store.transaction():
            store.quarantine.link(kept, store.messages.record(message, records))

    return write


def _what(message: MessageRecord) -> str:
    return f"the record of queue_id={message.queue_id} message_id={message.message_id} outcome={message.outcome}"
