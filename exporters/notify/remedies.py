"""What a unit must do about each rule's finding, and by when (Vietnamese and English)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from monitor.mailboxes.calendar import Calendar
from rules.accounts import due_date, inactivity_notice
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
    "quota": Remedy("dọn bớt thư hoặc đề nghị nâng dung lượng", "clean up the mailbox or request a larger quota", 5),
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
    "unit-handover": Remedy(
        "xác nhận đã bàn giao hộp thư, mật khẩu, dữ liệu cho người mới và đổi mật khẩu",
        "confirm the box, its password and data were handed over, and change the password",
        None,
    ),
    "public-provider-mailbox": Remedy(
        "nhắc cán bộ dùng hộp thư công vụ, không dùng hộp thư cá nhân công cộng để trao đổi công việc",
        "remind staff to use official mailboxes, not personal free-mail ones, for work",
        None,
    ),
    "it-request-overdue": Remedy(
        "đôn đốc bộ phận CNTT hoàn thành đề nghị, hoặc đánh dấu đã xong (mailmon requests done)",
        "chase the IT department, or mark the request done (mailmon requests done)",
        None,
    ),
}
DEFAULT_REMEDY = Remedy("xem xét và xử lý", "review and act", 3)


def remedy_text(
    rule: str, now: datetime, calendar: Calendar, box: MailboxFacts | None = None, profile: AccountProfile | None = None
) -> tuple[str, str]:
    """(vi, en) sentences: what to do and by when, the deadline counted in working days (mailmon's ask of
    the unit; the regulation's own deadlines are in the findings)."""
    if rule == "inactive-mailbox" and box is not None and profile is not None:
        return _inactive(box, profile, now, calendar)
    remedy = REMEDIES.get(rule, DEFAULT_REMEDY)
    if rule == "quota" and profile is not None and profile.quota_max_exception_mb:
        most = profile.quota_max_exception_mb
        remedy = Remedy(f"{remedy.vi} (tối đa {most:,} MB)", f"{remedy.en} ({most:,} MB at most)", remedy.working_days)
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
    if profile.removal is None:
        return "xác nhận hộp thư còn sử dụng", "confirm the mailbox is still in use"
    removal: date = due_date(notice, profile.removal, calendar)
    vi, en = profile.removal.describe()
    if now.date() >= removal:
        return (
            f"đã quá hạn {vi} (từ {removal:%d/%m/%Y}): đề nghị gỡ bỏ hộp thư hoặc xác nhận còn sử dụng ngay",
            f"the {en} ran out on {removal:%d/%m/%Y}: remove the mailbox or confirm it is in use now",
        )
    return (
        f"hộp thư bị tạm dừng; đề nghị mở lại trong {vi}, trước {removal:%d/%m/%Y}",
        f"the mailbox is suspended; request reopening within {en}, before {removal:%d/%m/%Y}",
    )
