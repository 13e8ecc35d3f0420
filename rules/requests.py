"""Rules on the IT department's own deadlines and on the yearly report, which are about requests and
units rather than one mailbox's use (DN-2022 Đ6.2, Đ7.2, Đ8.2, Đ8.3; Đ14.6).

A unit asks the IT department to create, change, reset, close or restore a mailbox; ``mailmon requests``
records the request and its completion. The profile gives a deadline per kind of request (only DN-2022
states any); an open request past it is a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from rules.accounts import WorkingDays, due_date
from rules.base import Action, Finding, Severity, Title
from rules.mailbox_facts import AccountProfile
from rules.profile_rules import REQUEST_KINDS

KIND_TEXT = {
    "create": ("cấp mới hộp thư", "create a mailbox"),
    "change": ("thay đổi thông tin hộp thư", "change a mailbox's details"),
    "reset": ("cấp lại mật khẩu", "reset a password"),
    "close": ("chấm dứt hộp thư", "close a mailbox"),
    "restore": ("khôi phục hộp thư", "restore a suspended mailbox"),
}
assert set(KIND_TEXT) == set(REQUEST_KINDS)


@dataclass(frozen=True)
class RequestFacts:
    """One request of a unit to the IT department, and when it was done (None: still open)."""

    id: int
    kind: str
    mailbox: str
    unit: str
    requested_at: datetime
    completed_at: datetime | None = None
    note: str = ""


def request_due(request: RequestFacts, profile: AccountProfile, cal: WorkingDays) -> date | None:
    """The last day the request is on time, or None where the regulation gives no deadline."""
    deadline = profile.request_deadlines.get(request.kind) if profile.in_force("it-request-overdue") else None
    return None if deadline is None else due_date(request.requested_at.date(), deadline, cal)


class ItRequestOverdue:
    id: ClassVar[str] = "it-request-overdue"
    title: ClassVar[Title] = Title(
        vi="Đề nghị của đơn vị chưa được bộ phận CNTT xử lý đúng hạn",
        en="A unit's request not handled by the IT department in time",
    )
    topic: ClassVar[tuple[str, ...]] = ("ngay lam viec",)
    aspects: ClassVar[tuple[str, ...]] = REQUEST_KINDS
    severity: ClassVar[Severity] = Severity.WARNING

    def check(
        self, request: RequestFacts, profile: AccountProfile, now: datetime, cal: WorkingDays
    ) -> Iterator[Finding]:
        due = request_due(request, profile, cal)
        if due is None or request.completed_at is not None or now.date() <= due:
            return
        vi, en = KIND_TEXT[request.kind]
        deadline = profile.request_deadlines[request.kind]
        dvi, den = deadline.describe()
        yield Finding(
            self.id,
            f"#{request.id} {vi} {request.mailbox} (đề nghị ngày {request.requested_at:%d/%m/%Y}, hạn {dvi}: "
            f"{due:%d/%m/%Y}) / #{request.id} {en} {request.mailbox}: asked {request.requested_at:%d/%m/%Y}, "
            f"due within {den} by {due:%d/%m/%Y}, still open",
            (),
            self.severity,
            Action.TAG,
            self.title,
            request.kind,
        )


class YearlyReportDue:
    """The yearly report on the regulation's implementation falls due (only where the profile has one)."""

    id: ClassVar[str] = "yearly-report"
    title: ClassVar[Title] = Title(
        vi="Báo cáo năm về thực hiện quy chế thư điện tử công vụ",
        en="Yearly report on the official mail regulation",
    )
    topic: ClassVar[tuple[str, ...]] = ("bao cao",)
    aspects: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.INFO

    def due(self, profile: AccountProfile, year: int) -> date | None:
        report = profile.yearly_report if profile.in_force("yearly-report") else None
        return None if report is None else report.due(year)

    def reminder_due(self, profile: AccountProfile, now: datetime, cal: WorkingDays) -> bool:
        """On working days from ``report_reminder_working_days`` before the due day until it."""
        due = self.due(profile, now.year)
        today = now.date()
        if due is None or today > due or not cal.is_working_day(today):
            return False
        return cal.working_days_between(today, due) < profile.report_reminder_working_days

    def check(self, unit: str, profile: AccountProfile, now: datetime, cal: WorkingDays) -> Iterator[Finding]:
        report = profile.yearly_report
        due = self.due(profile, now.year)
        if report is None or due is None or not self.reminder_due(profile, now, cal):
            return
        stated = f"{'' if report.inclusive else 'trước '}ngày {report.day:02d}/{report.month:02d}"
        yield Finding(
            self.id,
            f"{unit}: báo cáo {report.content_vi} gửi {report.recipient_vi}, {stated} (hạn / due {due:%d/%m/%Y})",
            (),
            self.severity,
            Action.TAG,
            self.title,
        )
