"""Viruses (DN-2022 Đ13.2, Đ12.5; BD-2005 Đ7.6; LC-2015 Đ11.6-7), judged from clamd's answer."""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Cite, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.profile import Profile


class Virus(TrafficRule):
    id = "virus"
    title = Title(vi="Thư có chứa vi rút", en="Message carries a virus")
    cites = (Cite("DN-2022", 13, 2), Cite("DN-2022", 12, 5), Cite("BD-2005", 7, 6), Cite("LC-2015", 11, 6))
    severity = Severity.CRITICAL
    default_action = Action.REJECT
    # The evidence is clamd's verdict, so the rule is tested against a real clamd, not samples.
    samples_need_servers = True

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for result in msg.antivirus:
            if result.status == "infected":
                yield self.finding(result.signature)


class VirusUnscanned(TrafficRule):
    id = "virus-unscanned"
    title = Title(vi="Thư chưa được quét vi rút", en="Message could not be scanned for viruses")
    cites = (Cite("DN-2022", 12, 5),)
    severity = Severity.WARNING
    default_action = Action.TAG
    samples_need_servers = True

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for result in msg.antivirus:
            if result.status == "unscanned":
                yield self.finding(result.detail or "không quét được / not scanned")


RULES: tuple[type[TrafficRule], ...] = (Virus, VirusUnscanned)
