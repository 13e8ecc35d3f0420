"""Viruses (DN-2022 Đ13.2, Đ12.5; LC-2015 Đ11.6; BDi-2017 Đ2.4; BD-2005 Đ7.6), judged from clamd's answer.

The rules stay pure: monitor/scanners/clamd.py asks clamd (in the filter's event loop, beside the worker's
evaluation) and puts its answer in ``MessageFacts.antivirus``; monitor/inspect/pipeline.py
``with_antivirus`` runs these rules on it and lets monitor/inspect/verdict.py resolve the actions.
"""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.profile import Profile


class Virus(TrafficRule):
    """clamd found a signature: spreading a virus (Đ13.2) is refused outright."""

    id = "virus"
    title = Title(vi="Thư có chứa vi rút", en="Message carries a virus")
    topic = ("virus",)
    severity = Severity.CRITICAL
    default_action = Action.REJECT
    # The evidence is clamd's verdict, so the rule is tested against a real clamd, not samples.
    samples_need_servers = True

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for result in msg.antivirus:
            if result.status == "infected":
                yield self.finding(result.signature)


class VirusUnscanned(TrafficRule):
    """No verdict (too large for clamd, or clamd down with fail_open): never a silent pass (Đ12.5)."""

    id = "virus-unscanned"
    title = Title(vi="Thư chưa được quét vi rút", en="Message could not be scanned for viruses")
    topic = ("virus",)
    severity = Severity.WARNING
    default_action = Action.TAG
    samples_need_servers = True

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for result in msg.antivirus:
            if result.status == "unscanned":
                yield self.finding(result.detail or "không quét được / not scanned")


RULES: tuple[type[TrafficRule], ...] = (Virus, VirusUnscanned)
