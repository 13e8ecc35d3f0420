"""Content rules on attachments: encrypted archives and macro-enabled Office documents (DN-2022 Đ12.6, Đ12.5)."""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.profile import Profile


class EncryptedArchive(TrafficRule):
    """A password-protected archive: its content cannot be checked (Đ12.6 says to limit them)."""

    id = "encrypted-archive"
    title = Title(
        vi="Gửi, nhận tệp nén có mật khẩu (cần hạn chế)",
        en="Password-protected archive sent or received (to be limited)",
    )
    topic = ("ma hoa",)
    severity = Severity.WARNING
    # The regulation says "hạn chế" (limit), not "không được" (must not): tag, do not block.
    default_action = Action.TAG

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for att in msg.attachments:
            if not att.encrypted:
                continue
            kind = att.true_type or att.content_type
            locked = [m.name for m in att.members if m.encrypted]
            if locked:
                shown = ", ".join(locked[:5]) + (f" (+{len(locked) - 5})" if len(locked) > 5 else "")
                what = f"tệp mã hoá / encrypted: {shown}"
            else:
                what = "tên tệp bên trong cũng bị mã hoá / member names are encrypted too"
            yield self.finding(f"{att.display_name} ({kind}): {what}")


class OfficeMacro(TrafficRule):
    """An Office document carrying VBA macros, at any depth (a common way malware is delivered)."""

    id = "office-macro"
    title = Title(
        vi="Tài liệu Office có chứa macro",
        en="Office document with macros",
    )
    # Executable content (Đ12.6); files must be virus-checked before they are opened (Đ12.5).
    topic = ("thuc thi", "virus")
    severity = Severity.WARNING
    default_action = Action.TAG

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for att in msg.attachments:
            if att.macro:
                yield self.finding(f"{att.display_name} ({att.true_type or att.content_type}): VBA macro")


RULES: tuple[type[TrafficRule], ...] = (EncryptedArchive, OfficeMacro)
