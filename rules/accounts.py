"""Account rules: how each mailbox is used, checked on a schedule.

Pure: every rule takes the mailbox's facts, the profile's numbers, ``now`` and the working-day
calendar as arguments; nothing here reads a clock or a server. The numbers, targets and deadlines
are the profile's (None where the regulation states none: the rule then finds nothing, or flags
without a due date), and so are the clauses a finding cites (``AccountProfile.cite``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import ClassVar, Protocol

from rules.base import Action, Finding, Severity, Title
from rules.mailbox_facts import AccountProfile, MailboxFacts, months_before
from rules.regulation import CheckTarget, Deadline


class WorkingDays(Protocol):
    def is_working_day(self, day: date) -> bool: ...
    def working_days_between(self, start: date, end: date) -> int: ...
    def add_working_days(self, start: date, n: int) -> date: ...
    def working_days(self, start: date, end: date) -> Iterator[date]: ...


class AccountRule:
    id: ClassVar[str]
    title: ClassVar[Title]
    # Words one of which every clause cited for the rule contains (see TrafficRule.topic).
    topic: ClassVar[tuple[str, ...]]
    aspects: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.WARNING

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, detail: str, aspect: str = "", advisory: bool = False) -> Finding:
        return Finding(self.id, detail, (), self.severity, Action.TAG, self.title, aspect, advisory)


def due_date(start: date, deadline: Deadline, cal: WorkingDays) -> date:
    """The last day of a deadline counted from ``start`` (working days skip weekends and holidays)."""
    if deadline.day_kind == "working":
        return cal.add_working_days(start, deadline.days)
    return start + timedelta(days=deadline.days)


NO_DEADLINE = "quy chế không quy định thời hạn / the regulation states no deadline"


def inactivity_notice(box: MailboxFacts, profile: AccountProfile) -> date | None:
    """The day the box crossed the inactivity limit (when the suspension notice is due)."""
    since = box.last_login or box.created_at
    months = profile.inactive_months
    if since is None or months is None or box.status not in ("active", "suspended"):
        return None
    day = since.date()
    # The first day on which "no login for N months" holds.
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    return None


def mailbox_state(box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> str:
    """active | suspend-due | removal-due | suspended | departed | removed (the due states only where
    the profile has an inactivity rule)."""
    if box.status in ("departed", "removed") or not profile.in_force("inactive-mailbox") or profile.removal is None:
        return box.status
    notice = inactivity_notice(box, profile)
    if notice is None or now.date() < notice:
        return box.status
    removal = due_date(notice, profile.removal, cal)
    return "removal-due" if now.date() >= removal else ("suspend-due" if box.status == "active" else "suspended")


class InactiveMailbox(AccountRule):
    id = "inactive-mailbox"
    title = Title(vi="Hộp thư lâu không đăng nhập", en="Mailbox not used for months")
    topic = ("khong dang nhap",)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        state = mailbox_state(box, profile, now, cal)
        notice = inactivity_notice(box, profile)
        if notice is None or profile.removal is None or state not in ("suspend-due", "removal-due", "suspended"):
            return
        last = box.last_login.date().isoformat() if box.last_login else "chưa bao giờ / never"
        removal = due_date(notice, profile.removal, cal)
        vi, en = profile.removal.describe()
        if state == "removal-due":
            yield self.finding(
                f"đăng nhập cuối / last login {last}; đã quá {vi} từ thông báo {notice:%d/%m/%Y}: "
                f"gỡ bỏ hộp thư / {en} after the notice: remove the box (since {removal:%d/%m/%Y})"
            )
        else:
            yield self.finding(
                f"đăng nhập cuối / last login {last} (quá {profile.inactive_months} tháng / over "
                f"{profile.inactive_months} months): tạm dừng và thông báo đơn vị / suspend and notify the unit; "
                f"đơn vị đề nghị mở lại trước / the unit may ask to reopen before {removal:%d/%m/%Y}"
            )


def check_sessions(times: Sequence[int], gap: float) -> int:
    """Distinct check sessions in one day's logins (ascending Unix seconds): a login less than ``gap``
    seconds after the previous one is the same check."""
    if len(times) < 2:
        return len(times)
    return 1 + sum(1 for before, after in pairwise(times) if after - before >= gap)


def _day_meets(
    times: Sequence[int], target: CheckTarget, profile: AccountProfile, tz: tzinfo | None
) -> tuple[bool, int]:
    """(target met, checks counted) for one working day's logins, under the target's window."""
    gap = profile.check_session_gap_minutes * 60
    if target.window == "any":
        count = check_sessions(times, gap)
        return count >= target.checks, count
    hours = profile.working_hours
    sessions = [hours.session(datetime.fromtimestamp(t, tz).time()) for t in times]
    inside = [t for t, s in zip(times, sessions, strict=True) if s is not None]
    count = check_sessions(inside, gap)
    if target.window == "morning-afternoon":
        return count >= target.checks and {"morning", "afternoon"} <= set(sessions), count
    return count >= target.checks, count


def check_compliance(
    box: MailboxFacts, profile: AccountProfile, start: date, end: date, cal: WorkingDays, tz: tzinfo | None = None
) -> tuple[int, int, float]:
    """(working days meeting the target, working days, mean checks per working day) in [start, end].

    Without a target for the box's kind, every day counts as met and the mean is of all logins."""
    target = profile.check_target(box.kind) or CheckTarget(0, "any")
    days = tuple(cal.working_days(start, end))
    results = [
        _day_meets(times, target, profile, tz) if times else (target.checks == 0, 0)
        for times in map(box.login_times.get, days)
    ]
    met = sum(1 for ok, _ in results if ok)
    mean = sum(count for _, count in results) / len(days) if days else 0.0
    return met, len(days), mean


WINDOW_TEXT = {
    "any": ("", ""),
    "working-hours": (" trong giờ làm việc", " within working hours"),
    "morning-afternoon": (" (sáng và chiều)", " (morning and afternoon)"),
}


class CheckFrequency(AccountRule):
    id = "check-frequency"
    title = Title(vi="Không kiểm tra hộp thư đủ số lần mỗi ngày làm việc", en="Mailbox not checked often enough")
    topic = ("kiem tra", "xem xet")
    aspects = ("personal", "unit", "agency", "admin")

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        target = profile.check_target(box.kind)
        if box.status != "active" or target is None:
            return
        end = now.date() - timedelta(days=1)
        days = list(cal.working_days(end - timedelta(days=40), end))[-20:]
        if not days:
            return
        met, total, mean = check_compliance(box, profile, days[0], days[-1], cal, now.tzinfo)
        wvi, wen = WINDOW_TEXT[target.window]
        if met < total:
            yield self.finding(
                f"đạt {met}/{total} ngày làm việc (mục tiêu {target.stated or target.checks} lần/ngày{wvi}, "
                f"trung bình {mean:.1f}) / met the target of {target.checks} checks a day{wen} on {met} of "
                f"{total} working days",
                aspect=box.kind,
            )


class UnreadBacklog(AccountRule):
    id = "unread-backlog"
    title = Title(vi="Thư đến hộp thư cơ quan chưa được xem", en="Unread mail waiting in a unit mailbox")
    topic = ("xu ly", "hoi dap")

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        limit = profile.unread_backlog_working_days
        if limit is None or box.kind not in profile.unread_backlog_kinds or box.oldest_unseen is None:
            return
        age = cal.working_days_between(box.oldest_unseen.date(), now.date())
        if age > limit:
            yield self.finding(
                f"thư chưa đọc từ / unread since {box.oldest_unseen:%d/%m/%Y %H:%M} "
                f"({age} ngày làm việc / working days)"
            )


def quota_limit_mb(box: MailboxFacts, profile: AccountProfile) -> int | None:
    """The box's quota: its approved exception, capped by the profile's maximum, else the profile's quota."""
    if profile.quota_mb is None:
        return None
    limit = box.quota_mb or profile.quota_mb
    return min(limit, profile.quota_max_exception_mb) if profile.quota_max_exception_mb else limit


class Quota(AccountRule):
    id = "quota"
    title = Title(vi="Hộp thư gần đầy hoặc vượt dung lượng", en="Mailbox near or over its quota")
    topic = ("dung luong",)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        limit_mb = quota_limit_mb(box, profile)
        if box.quota_used_bytes is None or limit_mb is None:
            return
        limit = limit_mb * 2**20
        used = box.quota_used_bytes
        if used > limit:
            yield self.finding(f"dùng / uses {used / 2**20:,.0f} MiB > {limit_mb:,} MiB")
        elif used >= limit * profile.quota_warn_ratio:
            yield self.finding(f"dùng / uses {used / 2**20:,.0f} MiB, {used / limit:.0%} của / of {limit_mb:,} MiB")


class PasswordAge(AccountRule):
    id = "password-age"
    title = Title(vi="Mật khẩu quá hạn thay đổi", en="Password not changed in time")
    topic = ("mat khau",)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        months = profile.password_max_months_admin if box.kind == "admin" else profile.password_max_months_user
        changed = box.password_changed_at or box.created_at
        if box.status != "active" or months is None or changed is None:
            return
        due = months_before(now.date(), months)
        if changed.date() < due:
            yield self.finding(
                f"đổi lần cuối / last changed {changed:%d/%m/%Y}; phải đổi ít nhất {months} tháng/lần / "
                f"must change every {months} month(s)"
            )


class FirstLoginPassword(AccountRule):
    id = "first-login-password"
    title = Title(vi="Chưa đổi mật khẩu được cấp sau khi đăng nhập", en="Issued password never changed")
    topic = ("thay doi mat khau", "thay doi ngay mat khau", "mat khau moi")
    aspects = ("issue", "reset")

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        changed, reset, last = box.password_changed_at, box.password_reset_at, box.last_login
        if (
            profile.first_login_after_reset
            and reset is not None
            and last is not None
            and last > reset
            and (changed is None or changed <= reset)
        ):
            yield self.finding(
                f"mật khẩu cấp lại ngày / reset on {reset:%d/%m/%Y}; đã đăng nhập / logged in "
                f"{last:%d/%m/%Y} mà chưa đổi / without changing it",
                aspect="reset",
            )
            return
        if not profile.first_login_on_issue or last is None or box.created_at is None:
            return
        if changed is None or changed <= box.created_at:
            yield self.finding(
                f"hộp thư đã dùng từ / used since {box.created_at:%d/%m/%Y} "
                "với mật khẩu được cấp / with the issued password",
                aspect="issue",
            )


class DepartedMailbox(AccountRule):
    id = "departed-mailbox"
    title = Title(vi="Hộp thư của người đã nghỉ chưa được đóng", en="Departed official's mailbox still open")
    topic = (
        "nghi huu",
        "thoi viec",
        "nghi che do",
        "nghi viec",
        "loai bo",
        "xoa",
        "thong tin thay doi",
        "thay doi nhan su",
    )
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.status != "departed" or box.status_changed_at is None:
            return
        since = box.status_changed_at.date()
        if profile.departed_request is None and profile.departed_close is None:
            yield self.finding(f"nghỉ từ / departed {since:%d/%m/%Y}; {NO_DEADLINE}")
            return
        deadline = since
        for step in (profile.departed_request, profile.departed_close):
            if step is not None:
                deadline = due_date(deadline, step, cal)
        if now.date() > deadline:
            yield self.finding(
                f"nghỉ từ / departed {since:%d/%m/%Y}; phải đóng trước / due closed by {deadline:%d/%m/%Y}"
            )


def all_account_rules() -> tuple[AccountRule, ...]:
    """Every rule evaluated per mailbox (the security ones and the address convention live in their own modules)."""
    from rules.account_security import ForwardingRuleExternal, LoginAnomaly, UnitHandover
    from rules.address_format import AddressFormat

    return (
        ForwardingRuleExternal(),
        InactiveMailbox(),
        CheckFrequency(),
        UnreadBacklog(),
        Quota(),
        PasswordAge(),
        FirstLoginPassword(),
        DepartedMailbox(),
        LoginAnomaly(),
        UnitHandover(),
        AddressFormat(),
    )
