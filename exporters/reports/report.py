"""The yearly (or monthly) report per unit as printable HTML or a CSV for spreadsheets, and its reminder.

Both name the regulation in force and cite its clauses; the reminder goes out only where the profile has
a yearly report at all (DN-2022 Đ14.6: before 15 December), with the content and recipient it names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from exporters.notify.alerts import AlertLine, render, templates, unit_directory, zone_of
from exporters.notify.outbox import OutgoingMail, enqueue
from exporters.reports.data import Period, UnitReport, gather, parse_period
from monitor.mailboxes.calendar import Calendar
from monitor.store import Store
from rules.mailbox_facts import AccountProfile
from rules.requests import KIND_TEXT, YearlyReportDue

YEARLY = YearlyReportDue()
STATE_VI = {
    "active": "đang dùng",
    "suspend-due": "cần tạm dừng",
    "removal-due": "cần gỡ bỏ",
    "suspended": "tạm dừng",
    "departed": "đã nghỉ",
    "removed": "đã gỡ",
}


def build_report(
    store: Store,
    period: str,
    unit: str | None = None,
    fmt: Literal["html", "csv"] = "html",
    *,
    tz: ZoneInfo,
    profile: AccountProfile,
    calendar: Calendar | None = None,
    now: datetime | None = None,
) -> bytes:
    """The report for ``period`` ('2026' or '2026-11'), for one unit or all of them, under ``profile``;
    ``tz`` is [organization] timezone."""
    span = parse_period(period)
    units = gather(store, span, tz, profile, unit, calendar, now)
    if fmt == "csv":
        return _csv(units, span, profile)
    if fmt == "html":
        generated = now or datetime.now(tz)
        context = {
            "period": span,
            "units": units,
            "generated": generated,
            "states": STATE_VI,
            "chart": bar_chart,
            "regulation": profile.regulation,
            "citations": citations(profile),
            "yearly": profile.yearly_report if profile.in_force(YEARLY.id) else None,
            "yearly_due": YEARLY.due(profile, span.end.year),
            "kinds": KIND_TEXT,
        }
        return templates().get_template("report.html.j2").render(context).encode("utf-8")
    raise ValueError(f"fmt: expected html or csv, got {fmt!r}")


def citations(profile: AccountProfile) -> dict[str, str]:
    """rule id → the clauses the profile cites for it ("site policy" where config.toml switched it on)."""
    out = {}
    for rule_id, policy in profile.rules.items():
        if policy.enabled:
            out[rule_id] = ", ".join(str(c) for c in policy.cites_for("", profile.regulation.short_name))
    return out


def _csv(units: Sequence[UnitReport], span: Period, profile: AccountProfile) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Mục / Section", "Đơn vị / Unit", "Tên / Name", "Tháng / Month", "Giá trị / Value"])
    writer.writerow(["regulation", "", profile.regulation.short_name, "", profile.regulation.heading])
    for u in units:
        for m in u.mailboxes:
            writer.writerow(["mailbox", u.unit, m.address, "", m.state])
            writer.writerow(["checks_per_working_day", u.unit, m.address, "", f"{m.checks_per_working_day:.2f}"])
        for state, n in sorted(u.states.items()):
            writer.writerow(["mailboxes_by_state", u.unit, state, "", n])
        for rule in sorted(u.findings):
            for month in span.months:
                writer.writerow(["findings", u.unit, rule, month, u.findings[rule][month]])
        for action, n in sorted(u.actions.items()):
            writer.writerow(["actions", u.unit, action, "", n])
        for verdict, n in sorted(u.verdicts.items()):
            writer.writerow(["messages_by_verdict", u.unit, verdict, "", n])
        if u.compliance is not None:
            writer.writerow(["check_frequency_compliance", u.unit, "", "", f"{u.compliance:.3f}"])
        if profile.in_force("public-provider-mailbox"):
            writer.writerow(["public_provider_messages", u.unit, "", "", u.public_provider_messages])
        for r in u.requests:
            req = r.request
            status = "open" if req.completed_at is None else f"done {req.completed_at:%Y-%m-%d}"
            due = f"due {r.due:%Y-%m-%d}" if r.due else "no deadline"
            late = "; late" if r.late else ""
            name = f"#{req.id} {req.kind} {req.mailbox}"
            writer.writerow(["request", u.unit, name, f"{req.requested_at:%Y-%m-%d}", f"{status}; {due}{late}"])
    # The BOM makes Excel read the file as UTF-8, so Vietnamese names are not garbled.
    return out.getvalue().encode("utf-8-sig")


def bar_chart(values: Sequence[int], labels: Sequence[str], title: str) -> Markup:
    """An inline SVG bar chart; each bar carries its number, so nothing depends on colour."""
    width, height, top, bottom, left = 640, 220, 30, 30, 36
    n = max(len(values), 1)
    slot = (width - left) / n
    peak = max([*values, 1])
    scale = (height - top - bottom) / peak
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#000"/>',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        x = left + i * slot + slot * 0.15
        bar = value * scale
        y = height - bottom - bar
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
            'fill="#4a6fa5" stroke="#000" stroke-width="0.5"/>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" font-size="11" text-anchor="middle">{value}</text>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 12}" font-size="11" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated string is escaped above


# -- the reminder ahead of the yearly report's deadline ---------------------------------------------
def reminder_due(now: datetime, calendar: Calendar, profile: AccountProfile) -> bool:
    """True on working days in the run-up to the profile's yearly-report deadline (never without one)."""
    return YEARLY.reminder_due(profile, now, calendar)


def build_reminders(
    store: Store, now: datetime, calendar: Calendar, profile: AccountProfile, fallback_to: Sequence[str] = ()
) -> list[OutgoingMail]:
    """One reminder per unit: the yearly report the profile asks for, by its deadline, with the unit's numbers."""
    due, report = YEARLY.due(profile, now.year), profile.yearly_report
    if due is None or report is None:
        return []
    # As the regulation words it: "trước ngày 15 tháng 12" (before), or a last day.
    stated = date(now.year, report.month, report.day)
    when_vi, when_en = ("chậm nhất ngày", "by") if report.inclusive else ("trước ngày", "before")
    left = calendar.working_days_between(now.date(), due)
    units = gather(store, parse_period(str(now.year)), zone_of(now), profile, calendar=calendar, now=now)
    directory = unit_directory(store)
    mails = []
    for u in units:
        name, contacts = directory.get(u.unit, (u.name, []))
        to = tuple(contacts or fallback_to)
        if not to:
            continue
        total = sum(sum(c.values()) for c in u.findings.values())
        findings = [profile.cite(f) for f in YEARLY.check(u.unit or "—", profile, now, calendar)]
        if not findings:
            continue
        detail = (
            f"{findings[0].detail}; {len(u.mailboxes)} hộp thư / mailboxes, {total} vi phạm / findings trong năm / "
            f"this year {now.year}; xuất báo cáo / export: mailmon report --period {now.year} --unit {u.unit}"
        )
        line = AlertLine(
            mailbox=u.unit,
            rule=YEARLY.id,
            title_vi=YEARLY.title.vi,
            title_en=YEARLY.title.en,
            detail=detail,
            citation=findings[0].citation,
            todo_vi=f"gửi báo cáo năm {when_vi} {stated:%d/%m/%Y} (còn {left} ngày làm việc)",
            todo_en=f"send the yearly report {when_en} {stated:%d/%m/%Y} ({left} working days left)",
        )
        subject, text, html = render("reminder", u.unit, name, [line], now, profile.regulation)
        mails.append(OutgoingMail("reminder", u.unit, to, subject, text, html, f"reminder|{u.unit}|{now.year}"))
    return mails


def enqueue_reminders(
    store: Store, now: datetime, calendar: Calendar, profile: AccountProfile, fallback_to: Sequence[str] = ()
) -> list[int]:
    """The daemon's morning job ahead of the deadline: once a year per unit (dedup over the year)."""
    if not reminder_due(now, calendar, profile):
        return []
    mails = build_reminders(store, now, calendar, profile, fallback_to)
    ids = [enqueue(store, m, now, timedelta(days=366)) for m in mails]
    return [i for i in ids if i is not None]
