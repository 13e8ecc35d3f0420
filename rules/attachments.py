"""Attachment rules: executable files (DN-2022 Đ12.6) and the size limit (DN-2022 Đ5.3: 30 MB)."""

from __future__ import annotations

from collections.abc import Iterator

from rules.base import Action, Finding, Severity, Title, TrafficRule
from rules.facts import MessageFacts
from rules.filenames import extension, extensions, has_bidi_control
from rules.profile import Profile

_TYPE_NAMES = {
    "pe": "Windows PE executable",
    "mz": "DOS/Windows executable",
    "elf": "ELF executable",
    "mach-o": "Mach-O executable",
    "script": "script with #! line",
    "lnk": "Windows shortcut (.lnk)",
    "jar": "Java archive",
    "java-class": "Java class file",
}


def executable_reason(name: str, true_type: str | None, profile: Profile) -> str | None:
    """Why a file counts as executable, or None. Names are checked as given and as displayed."""
    if true_type in profile.executable_types:
        ext = extension(name)
        claimed = f", tên ghi .{ext} / named .{ext}" if ext else ""
        return f"{_TYPE_NAMES.get(true_type, true_type)}{claimed}"
    if has_bidi_control(name):
        return "tên chứa ký tự đảo chiều (RTLO) để giả dạng / name hides its extension with RTLO"
    ext = extension(name)
    if ext in profile.executable_extensions:
        exts = extensions(name)
        if len(exts) > 1 and exts[-2] not in profile.executable_extensions:
            return f"đuôi kép .{exts[-2]}.{ext} / double extension .{exts[-2]}.{ext}"
        return f"đuôi .{ext} / extension .{ext}"
    return None


class ExecutableAttachment(TrafficRule):
    """Sending or receiving executable files, by name, by true type, or inside an archive."""

    id = "executable-attachment"
    title = Title(vi="Gửi, nhận tệp tin thực thi", en="Executable file sent or received")
    topic = ("thuc thi",)
    severity = Severity.HIGH
    default_action = Action.REJECT

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        for att in msg.attachments:
            name = att.filename or ""
            reason = executable_reason(name, att.true_type, profile)
            if reason:
                yield self.finding(f"{att.display_name}: {reason}")
            for member in att.members:
                reason = executable_reason(member.name, member.true_type, profile)
                if reason:
                    yield self.finding(f"{att.display_name} → {member.name} (mức {member.depth}): {reason}")


class AttachmentTooLarge(TrafficRule):
    """The attachments of one message may total at most the profile's limit (DN-2022: 30 MB, read as MiB)."""

    id = "attachment-too-large"
    title = Title(vi="Tệp đính kèm vượt quá dung lượng cho phép", en="Attachments over the size limit")
    topic = ("dinh kem",)
    severity = Severity.WARNING
    default_action = Action.REJECT

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        limit = profile.attachment_max_bytes
        files = [att for att in msg.attachments if not att.reading]
        total = sum(att.size for att in files)
        if limit is not None and total > limit:
            yield self.finding(
                f"{len(files)} tệp, tổng {total:,} byte > {limit:,}"
                f" / {len(files)} files, {total:,} bytes in all"
            )


RULES: tuple[type[TrafficRule], ...] = (ExecutableAttachment, AttachmentTooLarge)
