"""What an account rule sees about one mailbox: the directory row plus polled and logged activity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class LoginFact:
    time: datetime
    rip: str


@dataclass(frozen=True)
class MailboxFacts:
    address: str
    display_name: str
    unit: str
    kind: str  # personal | unit | agency | admin
    status: str  # active | suspended | departed | removed
    created_at: datetime | None = None
    password_changed_at: datetime | None = None
    status_changed_at: datetime | None = None
    quota_mb: int | None = None
    last_login: datetime | None = None  # the owner's, never the monitor's (master user)
    # The owner's logins in the evaluation window: Unix seconds, ascending, per local day.
    login_times: Mapping[date, tuple[int, ...]] = field(default_factory=dict)
    recent_logins: tuple[LoginFact, ...] = ()  # the owner's logins within the anomaly windows
    recent_failures: tuple[LoginFact, ...] = ()  # failed logins within the anomaly windows
    login_sources: frozenset[str] = frozenset()  # addresses of the window's logins, when trusted networks are set
    quota_used_bytes: int | None = None
    oldest_unseen: datetime | None = None
    forwards: tuple[str, ...] = ()  # external forwarding targets found in the active Sieve script
    unit_members: tuple[tuple[str, str], ...] = field(default=())  # (address, display_name) in the unit

    @property
    def used(self) -> bool:
        return self.last_login is not None


@dataclass(frozen=True)
class AccountProfile:
    inactive_months: int = 3
    removal_working_days: int = 15
    departed_request_days: int = 5
    departed_close_working_days: int = 3
    checks_per_day: dict[str, int] = field(default_factory=lambda: {"unit": 2, "agency": 4, "personal": 1, "admin": 1})
    check_session_gap_minutes: int = 30
    unread_backlog_working_days: int = 1
    quota_mb: int = 1024
    quota_max_exception_mb: int = 2048
    quota_warn_ratio: float = 0.9
    password_max_months_user: int = 3
    password_max_months_admin: int = 1
    failed_logins_threshold: int = 10
    failed_logins_window_minutes: int = 60
    networks_threshold: int = 3
    networks_window_minutes: int = 60
    trusted_networks: tuple[str, ...] = ()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's last day)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
