"""What a unit must do about each rule's finding, and by when (Vietnamese and English)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from monitor.mailboxes.calendar import Calendar
from rules.accounts import inactivity_notice
from rules.mailbox_facts import AccountProfile, MailboxFacts

# Rules whose findings are mailed at once; the others wait for the unit's daily digest.
URGENT_RULES = frozenset(
    {
        "virus",
        "classified-content",
        "spam",
        "auto-forward-external",
        "forwarding-rule-external",
        "login-anomaly",
    }
)


@dataclass(frozen=True)
class Remedy:
    vi: str
    en: str
    working_days: int | None  # None: no deadline (or one computed from the mailbox's facts)


REMEDIES: dict[str, Remedy] = {
    "virus": Remedy(
        "quét virus máy tính của người dùng hộp thư và báo cáo kết quả",
        "scan the mailbox user's computer for viruses and report the result",
        1,
    ),
    "classified-content": Remedy(
        "báo cáo lãnh đạo đơn vị, xác minh việc gửi tài liệu mật qua thư điện tử công vụ",
        "report to the unit's head and verify why a classified document went through official mail",
        1,
    ),
    "spam": Remedy(
        "kiểm tra hộp thư có bị chiếm quyền không và đổi mật khẩu",
        "check whether the mailbox is compromised and change its password",
        1,
    ),
    "auto-forward-external": Remedy(
        "gỡ bỏ chuyển tiếp tự động ra hộp thư ngoài cơ quan nhà nước",
        "remove the automatic forwarding to a non-government mailbox",
        1,
    ),
    "forwarding-rule-external": Remedy(
        "gỡ bỏ quy tắc chuyển tiếp ra hộp thư ngoài cơ quan nhà nước",
        "remove the forwarding rule to a non-government mailbox",
        1,
    ),
    "login-anomaly": Remedy(
        "xác minh với chủ hộp thư, đổi mật khẩu nếu nghi bị lộ",
        "check with the owner and change the password if it may have leaked",
        1,
    ),
    "check-frequency": Remedy(
        "nhắc chủ hộp thư kiểm tra thư đủ số lần mỗi ngày làm việc",
        "remind the owner to check mail as often as required each working day",
        1,
    ),
    "unread-backlog": Remedy("xem và xử lý thư chưa đọc", "read and handle the unread mail", 1),
    "quota": Remedy(
        "dọn bớt thư hoặc đề nghị nâng dung lượng (tối đa 2 GB)",
        "clean up the mailbox or request a larger quota (2 GB at most)",
        5,
    ),
    "password-age": Remedy("đổi mật khẩu", "change the password", 3),
    "first-login-password": Remedy("đổi mật khẩu được cấp", "change the issued password", 3),
    "departed-mailbox": Remedy(
        "đề nghị đóng hộp thư của người đã nghỉ ngay",
        "ask at once for the departed official's mailbox to be closed",
        None,
    ),
    "address-format": Remedy(
        "đề nghị đặt lại tên hộp thư theo quy ước",
        "ask for the address to be renamed to the convention",
        10,
    ),
}
DEFAULT_REMEDY = Remedy("xem xét và xử lý", "review and act", 3)


def remedy_text(
    rule: str, now: datetime, calendar: Calendar, box: MailboxFacts | None = None, profile: AccountProfile | None = None
) -> tuple[str, str]:
    """(vi, en) sentences: what to do and by when, the deadline counted in working days."""
    if rule == "inactive-mailbox" and box is not None and profile is not None:
        return _inactive(box, profile, now, calendar)
    remedy = REMEDIES.get(rule, DEFAULT_REMEDY)
    if remedy.working_days is None:
        return remedy.vi, remedy.en
    deadline = calendar.add_working_days(now.date(), remedy.working_days)
    n = remedy.working_days
    return (
        f"đề nghị {remedy.vi} trong {n} ngày làm việc, trước {deadline:%d/%m/%Y}",
        f"please {remedy.en} within {n} working day{'s' if n > 1 else ''}, before {deadline:%d/%m/%Y}",
    )


def _inactive(box: MailboxFacts, profile: AccountProfile, now: datetime, calendar: Calendar) -> tuple[str, str]:
    notice = inactivity_notice(box, profile) or now.date()
    removal: date = calendar.add_working_days(notice, profile.removal_working_days)
    n = profile.removal_working_days
    if now.date() >= removal:
        return (
            f"đã quá hạn {n} ngày làm việc (từ {removal:%d/%m/%Y}): "
            "đề nghị gỡ bỏ hộp thư hoặc xác nhận còn sử dụng ngay",
            f"the {n} working days ran out on {removal:%d/%m/%Y}: remove the mailbox or confirm it is in use now",
        )
    return (
        f"hộp thư bị tạm dừng; đề nghị mở lại trong {n} ngày làm việc, trước {removal:%d/%m/%Y}",
        f"the mailbox is suspended; request reopening within {n} working days, before {removal:%d/%m/%Y}",
    )
