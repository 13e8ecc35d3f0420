"""Content that could not be inspected within the limits is itself a finding, never a silent pass."""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.profile import Profile


class InspectionLimit(TrafficRule):
    """A message whose content could not be fully checked (a bomb, thousands of parts, a huge header).

    Files must be checked for viruses before they are opened (DN-2022 Đ12.5) and viruses must not
    be spread (Đ13.2): what mailmon could not read, it cannot vouch for.
    """

    id = "inspection-limit"
    title = Title(
        vi="Không kiểm tra được hết nội dung thư trong giới hạn an toàn",
        en="Message content could not be fully inspected within the safety limits",
    )
    topic = ("virus",)
    severity = Severity.WARNING
    default_action = Action.QUARANTINE

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        if msg.limit_hits:
            yield self.finding("; ".join(dict.fromkeys(msg.limit_hits)))


RULES: tuple[type[TrafficRule], ...] = (InspectionLimit,)
