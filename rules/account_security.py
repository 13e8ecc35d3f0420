"""Account rules about who holds a mailbox: abnormal logins, forwarding set up to outside mailboxes, and
the unit box's handover when its head (or holder) changes."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta

from rules.accounts import NO_DEADLINE, AccountRule, WorkingDays, due_date
from rules.base import Finding, Severity, Title
from rules.mailbox_facts import AccountProfile, MailboxFacts

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class LoginAnomaly(AccountRule):
    id = "login-anomaly"
    title = Title(vi="Đăng nhập bất thường", en="Abnormal logins")
    topic = ("mat khau", "bat thuong", "chiem doat", "nguoi khac", "truy cap", "tai khoan")
    aspects = ("brute-force", "shared-use", "outside-trusted")
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        window = timedelta(minutes=profile.failed_logins_window_minutes)
        recent = [f for f in box.recent_failures if now - f.time <= window]
        if len(recent) >= profile.failed_logins_threshold:
            sources = len({f.rip for f in recent})
            yield self.finding(
                f"{len(recent)} lần đăng nhập sai trong {window} từ {sources} địa chỉ / failed logins (brute force)",
                aspect="brute-force",
            )
        net_window = timedelta(minutes=profile.networks_window_minutes)
        nets = {_network(login.rip) for login in box.recent_logins if now - login.time <= net_window}
        nets.discard(None)
        if len(nets) >= profile.networks_threshold:
            yield self.finding(
                f"dùng từ {len(nets)} mạng khác nhau trong {net_window} / "
                f"used from {len(nets)} networks (shared account?)",
                aspect="shared-use",
            )
        if profile.trusted_networks:
            trusted = [ipaddress.ip_network(n, strict=False) for n in profile.trusted_networks]
            outside = sorted(rip for rip in box.login_sources if not _inside(rip, trusted))
            if outside:
                # A limit ("hạn chế", DN-2022 Đ12.3) or no clause at all (site policy): it informs.
                yield self.finding(
                    f"đăng nhập từ ngoài mạng tin cậy / logins from outside trusted networks: {', '.join(outside[:5])}",
                    aspect="outside-trusted",
                    advisory=profile.outside_trusted != "enforce",
                )


def _network(rip: str) -> str | None:
    try:
        addr = ipaddress.ip_address(rip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{rip}/{prefix}", strict=False))


def _inside(rip: str, networks: list[Network]) -> bool:
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
    topic = ("tu dong",)
    severity = Severity.HIGH

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        for target in box.forwards:
            how = "cần xem lại / needs review (variable)" if target.startswith("${") else "redirect"
            yield self.finding(f"{box.address} → {target} ({how})")


ROLE_TEXT = {"head": ("thủ trưởng đơn vị", "the unit's head"), "holder": ("người quản lý hộp thư", "the box's holder")}


class UnitHandover(AccountRule):
    """The unit's head (or the box's holder, as the profile's clause says) changed and the unit box's
    password has not been changed since: the handover of "hộp thư, mật khẩu" cannot be told apart from
    the old holder keeping the password. No regulation sets a deadline for it (none even asks for a new
    password), so the finding has no due date unless config.toml sets one as site policy."""

    id = "unit-handover"
    title = Title(
        vi="Hộp thư đơn vị chưa đổi mật khẩu sau khi bàn giao",
        en="Unit mailbox password unchanged since its holder changed",
    )
    topic = ("ban giao", "toan bo noi dung")

    def check(self, box: MailboxFacts, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        change = box.handover
        if (
            change is None
            or box.status != "active"
            or box.kind not in profile.handover_kinds
            or change.role != profile.handover_trigger
        ):
            return
        if box.password_changed_at is not None and box.password_changed_at >= change.since:
            return
        vi, en = ROLE_TEXT[change.role]
        what = (
            f"{vi} đổi từ / {en} changed from {change.previous or '—'} sang / to {change.current} "
            f"ngày / on {change.since:%d/%m/%Y}; mật khẩu chưa đổi từ đó / password unchanged since"
        )
        deadline = profile.handover_password_change
        if deadline is None:
            yield self.finding(f"{what}; {NO_DEADLINE}")
            return
        due = due_date(change.since.date(), deadline, cal)
        if now.date() > due:
            yield self.finding(
                f"{what}; quá hạn đổi {due:%d/%m/%Y} do đơn vị đặt (quy chế không quy định) / "
                f"past the site's deadline {due:%d/%m/%Y} (the regulation states none)"
            )
