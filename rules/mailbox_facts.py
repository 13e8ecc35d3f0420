"""What an account rule sees about one mailbox: the directory row plus polled and logged activity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

from rules.base import Finding
from rules.regulation import CheckTarget, Deadline, Regulation, RulePolicy, WorkingHours, YearlyReport, cite_finding


@dataclass(frozen=True)
class LoginFact:
    time: datetime
    rip: str


@dataclass(frozen=True)
class HandoverChange:
    """A unit's head (or its box's holder) changed: who before, who now, and since when."""

    role: str  # "head" | "holder"
    previous: str
    current: str
    since: datetime


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
    # The last password reset by the IT department (a completed reset request, or the directory's date).
    password_reset_at: datetime | None = None
    # The last change of the person the profile's unit-handover clause names (the unit's head, or the
    # box's holder), for unit and agency boxes.
    handover: HandoverChange | None = None

    @property
    def used(self) -> bool:
        return self.last_login is not None


# Until a profile says otherwise (rules/profiles/shared.toml [working_hours]).
OFFICE_HOURS = WorkingHours((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))


@dataclass(frozen=True)
class AccountProfile:
    """The account rules' part of a profile (rules/profile.py builds it): numbers, targets and deadlines
    of the regulation in force, None where it states no value; plus mailmon's own detection tuning and
    the site's data (trusted networks, office hours)."""

    regulation: Regulation
    rules: Mapping[str, RulePolicy]
    # inactive-mailbox: months without a login; removal after the suspension notice.
    inactive_months: int | None = None
    removal: Deadline | None = None
    # departed-mailbox: the unit asks (from the decision), IT closes (from the request).
    departed_request: Deadline | None = None
    departed_close: Deadline | None = None
    # check-frequency: a target per kind of mailbox (a kind absent: no target).
    check_targets: Mapping[str, CheckTarget] = field(default_factory=dict)
    check_session_gap_minutes: int = 30
    working_hours: WorkingHours = OFFICE_HOURS
    # unread-backlog
    unread_backlog_working_days: int | None = None
    unread_backlog_kinds: frozenset[str] = frozenset()
    # quota
    quota_mb: int | None = None
    quota_max_exception_mb: int | None = None
    quota_warn_ratio: float = 0.9
    # password-age
    password_max_months_user: int | None = None
    password_max_months_admin: int | None = None
    # first-login-password: after the box is issued, after a reset.
    first_login_on_issue: bool = False
    first_login_after_reset: bool = False
    # address-format: domains, a local-part template per kind, numbered namesakes.
    address_domains: tuple[str, ...] = ()
    address_patterns: Mapping[str, str] = field(default_factory=dict)
    address_namesake_digits: bool = False
    # login-anomaly
    failed_logins_threshold: int = 10
    failed_logins_window_minutes: int = 60
    networks_threshold: int = 3
    networks_window_minutes: int = 60
    outside_trusted: Literal["enforce", "advisory", "off"] = "off"
    trusted_networks: tuple[str, ...] = ()
    # it-request-overdue: a deadline per request kind (a kind absent: no deadline).
    request_deadlines: Mapping[str, Deadline] = field(default_factory=dict)
    # unit-handover: whose change starts it, which boxes, and the password-change deadline (None: none).
    handover_trigger: Literal["head", "holder"] | None = None
    handover_kinds: frozenset[str] = frozenset()
    handover_password_change: Deadline | None = None
    # yearly-report
    yearly_report: YearlyReport | None = None
    report_reminder_working_days: int = 10

    def in_force(self, rule_id: str) -> bool:
        policy = self.rules.get(rule_id)
        return policy is not None and policy.enabled

    def cite(self, finding: Finding) -> Finding:
        return cite_finding(finding, self.rules, self.regulation)

    def check_target(self, kind: str) -> CheckTarget | None:
        return self.check_targets.get(kind) if self.in_force("check-frequency") else None


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
