"""Official work exchanged with personal mailboxes at public (free-mail) providers (BD-2005 Đ11,
BDi-2017 Đ11.4: "không sử dụng các hộp thư cá nhân dạng khác … để trao đổi công việc").

A message between an official mailbox and a Gmail or Yahoo address is evidence, not proof, that work
went through a personal box (a citizen writes from Gmail too): the finding only tags and is counted per
unit in the report. It can never reject or quarantine (``max_action``).
"""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts, domain_of, in_domains
from rules.profile import Profile


def provider_of(address: str, providers: tuple[str, ...]) -> str | None:
    """The public provider's domain an address belongs to (a subdomain counts), or None."""
    domain = domain_of(address)
    return next((p for p in providers if domain and in_domains(domain, (p,))), None)


class PublicProviderMailbox(TrafficRule):
    """Mail between an official mailbox of this organisation and a public provider's mailbox."""

    id = "public-provider-mailbox"
    title = Title(
        vi="Trao đổi công việc với hộp thư cá nhân của nhà cung cấp công cộng (Gmail, Yahoo…)",
        en="Work exchanged with a personal mailbox at a public provider (Gmail, Yahoo…)",
    )
    topic = ("hop thu ca nhan dang khac", "hop thu dien tu ca nhan dang khac")
    severity = Severity.INFO
    default_action = Action.TAG
    max_action = Action.TAG

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        providers = profile.public_provider_domains
        if msg.domains.is_local(msg.mail_from):
            for rcpt in dict.fromkeys(r.lower() for r in msg.rcpt_tos):
                provider = provider_of(rcpt, providers)
                if provider:
                    yield self.finding(f"{msg.mail_from.lower()} → {rcpt} ({provider})")
            return
        provider = provider_of(msg.mail_from, providers)
        if provider is None:
            return
        official = [r for r in dict.fromkeys(r.lower() for r in msg.rcpt_tos) if msg.domains.is_local(r)]
        for rcpt in official:
            yield self.finding(f"{msg.mail_from.lower()} → {rcpt} ({provider})")


RULES: tuple[type[TrafficRule], ...] = (PublicProviderMailbox,)
