"""Account rules: how each mailbox is used, checked on a schedule (DN-2022 Đ5, Đ8, Đ9, Đ12).

Pure: every rule takes the mailbox's facts, the profile's numbers, ``now`` and the working-day
calendar as arguments; nothing here reads a clock or a server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Protocol

from rules.base import Action, Cite, Finding, Severity, Title
from rules.mailbox_facts import AccountProfile, MailboxFacts, months_before


class WorkingDays(Protocol):
    def is_working_day(self, day: date) -> bool: ...
    def working_days_between(self, start: date, end: date) -> int: ...
    def add_working_days(self, start: date, n: int) -> date: ...
    def working_days(self, start: date, end: date) -> Iterator[date]: ...


class AccountRule:
    id: str
    title: Title
    cites: tuple[Cite, ...]
    severity: Severity = Severity.WARNING

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, detail: str) -> Finding:
        return Finding(self.id, detail, self.cites, self.severity, Action.TAG, self.title)


def inactivity_notice(box: MailboxFacts, profile: AccountProfile) -> date | None:
    """The day the box crossed the inactivity limit (when the suspension notice is due)."""
    since = box.last_login or box.created_at
    if since is None or box.status not in ("active", "suspended"):
        return None
    day = since.date()
    # The first day on which "no login for N months" holds.
    year, month = divmod(day.year * 12 + day.month - 1 + profile.inactive_months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    return None


def mailbox_state(box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> str:
    """active | suspend-due | removal-due | suspended | departed | removed."""
    if box.status in ("departed", "removed"):
        return box.status
    notice = inactivity_notice(box, profile)
    if notice is None or now.date() < notice:
        return box.status
    removal = cal.add_working_days(notice, profile.removal_working_days)
    return "removal-due" if now.date() >= removal else ("suspend-due" if box.status == "active" else "suspended")


class InactiveMailbox(AccountRule):
    id = "inactive-mailbox"
    title = Title(vi="Hộp thư không đăng nhập quá 3 tháng", en="Mailbox not used for over 3 months")
    cites = (Cite("DN-2022", 8, 1),)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        state = mailbox_state(box, profile, now, cal)
        notice = inactivity_notice(box, profile)
        if notice is None or state not in ("suspend-due", "removal-due", "suspended"):
            return
        last = box.last_login.date().isoformat() if box.last_login else "chưa bao giờ / never"
        removal = cal.add_working_days(notice, profile.removal_working_days)
        if state == "removal-due":
            yield self.finding(
                f"đăng nhập cuối / last login {last}; đã quá {profile.removal_working_days} ngày làm việc từ thông báo "
                f"{notice:%d/%m/%Y}: gỡ bỏ hộp thư / remove the box (since {removal:%d/%m/%Y})"
            )
        else:
            yield self.finding(
                f"đăng nhập cuối / last login {last}: tạm dừng và thông báo đơn vị / suspend and notify the unit; "
                f"đơn vị đề nghị mở lại trước / the unit may ask to reopen before {removal:%d/%m/%Y}"
            )


def check_sessions(times: Sequence[int], gap: float) -> int:
    """Distinct check sessions in one day's logins (ascending Unix seconds): a login less than ``gap``
    seconds after the previous one is the same check."""
    if len(times) < 2:
        return len(times)
    return 1 + sum(1 for before, after in pairwise(times) if after - before >= gap)


def check_compliance(
    box: MailboxFacts, profile: AccountProfile, start: date, end: date, cal: WorkingDays
) -> tuple[int, int, float]:
    """(working days meeting the target, working days, mean checks per working day) in [start, end]."""
    target = profile.checks_per_day.get(box.kind, 1)
    gap = profile.check_session_gap_minutes * 60
    days = tuple(cal.working_days(start, end))
    counts = [check_sessions(times, gap) for times in map(box.login_times.get, days) if times]
    met = sum(1 for c in counts if c >= target)
    mean = sum(counts) / len(days) if days else 0.0
    return met, len(days), mean


class CheckFrequency(AccountRule):
    id = "check-frequency"
    title = Title(vi="Không kiểm tra hộp thư đủ số lần mỗi ngày làm việc", en="Mailbox not checked often enough")
    cites = (Cite("DN-2022", 9, 2), Cite("LC-2015", 8), Cite("BDi-2017", 8))

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.status != "active":
            return
        end = now.date() - timedelta(days=1)
        days = list(cal.working_days(end - timedelta(days=40), end))[-20:]
        if not days:
            return
        met, total, mean = check_compliance(box, profile, days[0], days[-1], cal)
        target = profile.checks_per_day.get(box.kind, 1)
        if met < total:
            yield self.finding(
                f"đạt {met}/{total} ngày làm việc (mục tiêu {target} lần/ngày, trung bình {mean:.1f}) / "
                f"met the target of {target} checks on {met} of {total} working days"
            )


class UnreadBacklog(AccountRule):
    id = "unread-backlog"
    title = Title(vi="Thư đến hộp thư cơ quan chưa được xem", en="Unread mail waiting in a unit mailbox")
    cites = (Cite("DN-2022", 9, 2),)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.kind not in ("unit", "agency") or box.oldest_unseen is None:
            return
        age = cal.working_days_between(box.oldest_unseen.date(), now.date())
        if age > profile.unread_backlog_working_days:
            yield self.finding(
                f"thư chưa đọc từ / unread since {box.oldest_unseen:%d/%m/%Y %H:%M} "
                f"({age} ngày làm việc / working days)"
            )


class Quota(AccountRule):
    id = "quota"
    title = Title(vi="Hộp thư gần đầy hoặc vượt dung lượng", en="Mailbox near or over its quota")
    cites = (Cite("DN-2022", 5, 3),)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.quota_used_bytes is None:
            return
        limit_mb = min(box.quota_mb or profile.quota_mb, profile.quota_max_exception_mb)
        limit = limit_mb * 2**20
        used = box.quota_used_bytes
        if used > limit:
            yield self.finding(f"dùng / uses {used / 2**20:,.0f} MiB > {limit_mb:,} MiB")
        elif used >= limit * profile.quota_warn_ratio:
            yield self.finding(f"dùng / uses {used / 2**20:,.0f} MiB, {used / limit:.0%} của / of {limit_mb:,} MiB")


class PasswordAge(AccountRule):
    id = "password-age"
    title = Title(vi="Mật khẩu quá hạn thay đổi", en="Password not changed in time")
    cites = (Cite("DN-2022", 12, 2),)

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.status != "active":
            return
        months = profile.password_max_months_admin if box.kind == "admin" else profile.password_max_months_user
        changed = box.password_changed_at or box.created_at
        if changed is None:
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
    cites = (Cite("DN-2022", 6, 3), Cite("DN-2022", 7, 3))

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if not box.used or box.created_at is None:
            return
        if box.password_changed_at is None or box.password_changed_at <= box.created_at:
            yield self.finding(
                f"hộp thư đã dùng từ / used since {box.created_at:%d/%m/%Y} "
                "với mật khẩu được cấp / with the issued password"
            )


class DepartedMailbox(AccountRule):
    id = "departed-mailbox"
    title = Title(vi="Hộp thư của người đã nghỉ chưa được đóng", en="Departed official's mailbox still open")
    cites = (Cite("DN-2022", 8, 2),)
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        if box.status != "departed" or box.status_changed_at is None:
            return
        asked = box.status_changed_at.date() + timedelta(days=profile.departed_request_days)
        deadline = cal.add_working_days(asked, profile.departed_close_working_days)
        if now.date() > deadline:
            yield self.finding(
                f"nghỉ từ / departed {box.status_changed_at:%d/%m/%Y}; "
                f"phải đóng trước / due closed by {deadline:%d/%m/%Y}"
            )


class LoginAnomaly(AccountRule):
    id = "login-anomaly"
    title = Title(vi="Đăng nhập bất thường", en="Abnormal logins")
    cites = (Cite("DN-2022", 12, 3), Cite("DN-2022", 12, 8), Cite("DN-2022", 15, 2))
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        window = timedelta(minutes=profile.failed_logins_window_minutes)
        recent = [f for f in box.recent_failures if now - f.time <= window]
        if len(recent) >= profile.failed_logins_threshold:
            sources = len({f.rip for f in recent})
            yield self.finding(
                f"{len(recent)} lần đăng nhập sai trong {window} từ {sources} địa chỉ / failed logins (brute force)"
            )
        net_window = timedelta(minutes=profile.networks_window_minutes)
        nets = {_network(login.rip) for login in box.recent_logins if now - login.time <= net_window}
        nets.discard(None)
        if len(nets) >= profile.networks_threshold:
            yield self.finding(
                f"dùng từ {len(nets)} mạng khác nhau trong {net_window} / "
                f"used from {len(nets)} networks (shared account?)"
            )
        if profile.trusted_networks:
            trusted = [ipaddress.ip_network(n, strict=False) for n in profile.trusted_networks]
            outside = sorted(rip for rip in box.login_sources if not _inside(rip, trusted))
            if outside:
                yield self.finding(
                    f"đăng nhập từ ngoài mạng tin cậy / logins from outside trusted networks: {', '.join(outside[:5])}"
                )


def _network(rip: str) -> str | None:
    try:
        addr = ipaddress.ip_address(rip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{rip}/{prefix}", strict=False))


def _inside(rip: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        addr = ipaddress.ip_address(rip)
    except ValueError:
        return True
    return any(addr in n for n in networks)


class ForwardingRuleExternal(AccountRule):
    id = "forwarding-rule-external"
    title = Title(
        vi="Cài đặt tự động chuyển tiếp thư ra hộp thư ngoài cơ quan nhà nước",
        en="Automatic forwarding to a non-government mailbox is set up",
    )
    cites = (Cite("DN-2022", 13, 5),)
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        for target in box.forwards:
            how = "cần xem lại / needs review (variable)" if target.startswith("${") else "redirect"
            yield self.finding(f"{box.address} → {target} ({how})")


ACCOUNT_RULES: tuple[AccountRule, ...] = (
    ForwardingRuleExternal(),
    InactiveMailbox(),
    CheckFrequency(),
    UnreadBacklog(),
    Quota(),
    PasswordAge(),
    FirstLoginPassword(),
    DepartedMailbox(),
    LoginAnomaly(),
)


def all_account_rules() -> tuple[AccountRule, ...]:
    """Every account rule, the address convention included (it lives in its own module)."""
    from rules.address_format import AddressFormat

    return (*ACCOUNT_RULES, AddressFormat())
