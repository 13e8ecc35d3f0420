"""Automatic forwarding between official and non-government mailboxes (DN-2022 Đ13.5: the profile cites)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts, header_addresses
from rules.profile import Profile


@dataclass(frozen=True)
class ForwardEvidence:
    """A header proving that a mailbox forwarded this message automatically, and which one."""

    how: str
    forwarder: str


def _first_address(value: str | None) -> str | None:
    found = header_addresses(value or "")
    return found[0].lower() if found else None


def forward_evidence(msg: MessageFacts) -> list[ForwardEvidence]:
    """Every automatic-forwarding mark in the headers; a manual "Fwd:" or a vacation reply has none."""
    found: list[ForwardEvidence] = []
    sender = msg.mail_from.lower()

    def add(how: str, forwarder: str | None) -> None:
        found.append(ForwardEvidence(how, forwarder or sender))

    for value in msg.header_all("X-Sieve-Redirected-From"):
        add("Sieve redirect (X-Sieve-Redirected-From)", _first_address(value))
    for value in msg.header_all("Auto-Submitted"):
        if value.strip().lower().startswith("auto-forwarded"):
            add("Auto-Submitted: auto-forwarded", _first_address(msg.header("Resent-From")))
    resent = msg.header("Resent-From") or msg.header("Resent-Sender")
    if resent and not any(e.how.startswith("Auto-Submitted") for e in found):
        add("RFC 5322 Resent- block", _first_address(resent))
    for value in msg.header_all("X-MS-Exchange-Inbox-Rules-Loop"):
        add("Exchange inbox rule (X-MS-Exchange-Inbox-Rules-Loop)", _first_address(value))
    source = msg.header("X-MS-Exchange-Generated-Message-Source") or ""
    if "mailbox rules agent" in source.lower():
        add("Exchange inbox rule (Mailbox Rules Agent)", None)
    for value in msg.header_all("X-Forwarded-For"):
        add("Gmail forwarding (X-Forwarded-For)", _first_address(value))
    if msg.header("X-Forwarded-To") and not msg.header_all("X-Forwarded-For"):
        add("Gmail forwarding (X-Forwarded-To)", None)
    return found


class AutoForwardExternal(TrafficRule):
    """Automatic forwarding from an official mailbox to a non-government one, or the reverse."""

    id = "auto-forward-external"
    title = Title(
        vi="Tự động chuyển tiếp thư giữa hộp thư công vụ và hộp thư ngoài cơ quan nhà nước",
        en="Automatic forwarding between an official and a non-government mailbox",
    )
    topic = ("tu dong",)
    severity = Severity.HIGH
    default_action = Action.REJECT

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        domains = msg.domains
        reported: set[tuple[str, str]] = set()
        for evidence in forward_evidence(msg):
            source_official = domains.is_government(evidence.forwarder)
            for rcpt in msg.rcpt_tos:
                if source_official == domains.is_government(rcpt):
                    continue  # official → official, or outside → outside: not this clause
                key = (evidence.forwarder, rcpt.lower())
                if key in reported:
                    continue
                reported.add(key)
                way = "ra ngoài / out" if source_official else "vào hộp công vụ / in"
                # The finding is about the forwarding box when it is one of ours (not the original sender).
                ours = evidence.forwarder if domains.is_local(evidence.forwarder) else ""
                yield self.finding(f"{evidence.forwarder} → {rcpt} ({way}; {evidence.how})", mailbox=ours)


RULES: tuple[type[TrafficRule], ...] = (AutoForwardExternal,)
