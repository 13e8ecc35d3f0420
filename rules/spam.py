"""Spam and compromised accounts (DN-2022 Đ13.3; LC-2015 Đ11.6-7; BDi-2017 Đ7.3; BD-2005 Đ9.6; DL-2006 Đ7).

The evidence is the sender's recent sending (monitor/smtp/sending_windows.py counts it in the store), not
the message alone, so `check` finds nothing in a single message's facts; the filter's handler
(monitor/smtp/handler.py) asks this rule for its finding, about the sender, when a sending window
is exceeded.
"""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.profile import Profile


class Spam(TrafficRule):
    id = "spam"
    title = Title(
        vi="Phát tán thư rác / tài khoản có thể bị chiếm quyền",
        en="Spam sent / possibly compromised account",
    )
    topic = ("thu rac", "trai voi qui dinh")
    severity = Severity.CRITICAL
    default_action = Action.QUARANTINE
    # No sample message can show it: the evidence is the sending history (tests/test_spam_stack.py).
    samples_need_servers = True

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        return iter(())


RULES: tuple[type[TrafficRule], ...] = (Spam,)
