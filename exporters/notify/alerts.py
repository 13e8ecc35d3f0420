"""Alert mail to each unit's IT contacts: urgent findings at once, the rest in a daily digest.

Every mail names the regulation in force and every line cites its clauses (the profile's); the digest
also carries the unit's requests the IT department has let run past the profile's deadline.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from exporters.notify.outbox import OutgoingMail, enqueue, iso
from exporters.notify.remedies import URGENT_RULES, remedy_text
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import (
    MailboxReport,
    evaluate_mailboxes,
    evaluate_requests,
    gather_facts,
    gather_requests,
)
from monitor.store import Store
from rules.catalogue import rule_catalogue
from rules.mailbox_facts import AccountProfile
from rules.regulation import Regulation

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
DEDUP_WINDOW = timedelta(days=1)


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class AlertLine:
    """One finding as the IT contact reads it."""

    mailbox: str
    rule: str
    title_vi: str
    title_en: str
    detail: str
    citation: str
    todo_vi: str
    todo_en: str
    when: str = ""


def render(
    kind: str, unit: str, unit_name: str, lines: Sequence[AlertLine], now: datetime, regulation: Regulation
) -> tuple[str, str, str]:
    """(subject, text, html) of an alert or digest mail, under the regulation in force."""
    # A mailbox missing from the directory has no unit: say so rather than leave a blank greeting.
    unknown = "đơn vị chưa có trong danh bạ / a unit not in the directory"
    context = {
        "kind": kind,
        "unit": unit or "—",
        "unit_name": unit_name or unit or unknown,
        "lines": lines,
        "now": now,
        "regulation": regulation,
    }
    env = templates()
    subject = env.get_template("subject.txt.j2").render(context).strip()
    return subject, env.get_template("mail.txt.j2").render(context), env.get_template("mail.html.j2").render(context)


def unit_directory(store: Store) -> dict[str, tuple[str, list[str]]]:
    """unit → (name, IT contact addresses) from the directory."""
    return {u.unit: (u.name, list(u.it_contacts)) for u in store.mailboxes.units()}


def _mail(
    store: Store,
    kind: str,
    unit: str,
    lines: Sequence[AlertLine],
    now: datetime,
    fallback_to: Sequence[str],
    key: str,
    regulation: Regulation,
) -> OutgoingMail | None:
    name, contacts = unit_directory(store).get(unit, (unit, []))
    to = tuple(contacts or fallback_to)
    if not to:
        log.warning("no IT contact for unit %r and no fallback: %d %s line(s) not mailed", unit, len(lines), kind)
        return None
    subject, text, html = render(kind, unit, name, lines, now, regulation)
    return OutgoingMail(kind, unit, to, subject, text, html, key)


def _first_alert(store: Store, key: str, unit: str, now: datetime) -> bool:
    """True (and remembered) unless the same (rule, mailbox) was alerted within DEDUP_WINDOW."""
    alerted = store.outbox.alerted_at(key)
    if alerted and alerted > iso(now - DEDUP_WINDOW):
        return False
    store.outbox.set_alerted(key, unit, iso(now))
    return True


def enqueue_new_findings(
    store: Store,
    now: datetime,
    calendar: Calendar,
    profile: AccountProfile,
    fallback_to: Sequence[str] = (),
    cursor: str = "alerts",
) -> list[int]:
    """Queue an immediate alert per unit for the urgent message findings recorded since the last call.

    Reads the findings table past a stored cursor, so every filter process and every restart is
    covered and nothing is alerted twice. Returns the new outbox ids.
    """
    last = store.outbox.cursor(cursor)
    if last is None:
        # First run on an existing database: start from now, not from years of history.
        last = store.messages.newest_finding_id()
    findings = store.messages.findings_after(last, sorted(URGENT_RULES))
    newest = max([last, *(f.id for f in findings)])
    per_unit: dict[str, list[AlertLine]] = defaultdict(list)
    with store.transaction():
        for f in findings:
            # Which mailbox and unit a finding is about was decided when it was recorded (rules/concerns.py).
            if not _first_alert(store, f"{f.rule}|{f.mailbox}", f.unit, now):
                continue
            vi, en = remedy_text(f.rule, now, calendar, profile=profile)
            per_unit[f.unit].append(
                AlertLine(f.mailbox, f.rule, *_titles(f.rule), f"{f.detail} ({f.action})", f.citation, vi, en, f.time)
            )
        store.outbox.set_cursor(cursor, newest)
    return _enqueue_all(store, "alert", per_unit, now, fallback_to, profile.regulation)


def enqueue_account_alerts(
    store: Store,
    reports: Iterable[MailboxReport],
    now: datetime,
    calendar: Calendar,
    profile: AccountProfile,
    fallback_to: Sequence[str] = (),
) -> list[int]:
    """Queue immediate alerts for urgent account findings (forwarding rules, abnormal logins) after a sweep."""
    per_unit: dict[str, list[AlertLine]] = defaultdict(list)
    with store.transaction():
        for report in reports:
            for f in report.findings:
                if f.rule not in URGENT_RULES:
                    continue
                if not _first_alert(store, f"{f.rule}|{report.facts.address}", report.facts.unit, now):
                    continue
                vi, en = remedy_text(f.rule, now, calendar, report.facts, profile)
                per_unit[report.facts.unit].append(
                    AlertLine(report.facts.address, f.rule, f.title.vi, f.title.en, f.detail, f.citation, vi, en)
                )
    return _enqueue_all(store, "alert", per_unit, now, fallback_to, profile.regulation)


def build_digests(
    store: Store,
    now: datetime,
    calendar: Calendar,
    profile: AccountProfile,
    fallback_to: Sequence[str] = (),
    reports: Sequence[MailboxReport] | None = None,
) -> list[OutgoingMail]:
    """One digest per unit with its non-urgent account findings (inactive boxes, check frequency, quota…)
    and its requests overdue at the IT department.

    ``now`` carries the organisation's time zone ([organization] timezone).
    """
    tz = zone_of(now)
    if reports is None:
        reports = evaluate_mailboxes(gather_facts(store, now, tz, profile), profile, now, calendar)
    per_unit: dict[str, list[AlertLine]] = defaultdict(list)
    for report in reports:
        for f in report.findings:
            if f.rule in URGENT_RULES:
                continue
            vi, en = remedy_text(f.rule, now, calendar, report.facts, profile)
            per_unit[report.facts.unit].append(
                AlertLine(report.facts.address, f.rule, f.title.vi, f.title.en, f.detail, f.citation, vi, en)
            )
    for request in evaluate_requests(gather_requests(store, tz), profile, now, calendar):
        for f in request.findings:
            vi, en = remedy_text(f.rule, now, calendar, profile=profile)
            per_unit[request.request.unit].append(
                AlertLine(request.request.mailbox, f.rule, f.title.vi, f.title.en, f.detail, f.citation, vi, en)
            )
    mails = []
    for unit in sorted(per_unit):
        key = f"digest|{unit}|{now.date()}"
        mail = _mail(store, "digest", unit, per_unit[unit], now, fallback_to, key, profile.regulation)
        if mail is not None:
            mails.append(mail)
    return mails


def enqueue_digests(store: Store, digests: Iterable[OutgoingMail], now: datetime) -> list[int]:
    """Queue the digests; a unit's digest for the same day is queued once (a rerun does nothing)."""
    ids = [enqueue(store, mail, now, DEDUP_WINDOW) for mail in digests]
    return [i for i in ids if i is not None]


def daily_digest(
    store: Store, now: datetime, calendar: Calendar, profile: AccountProfile, fallback_to: Sequence[str] = ()
) -> list[int]:
    """The daemon's morning job: nothing on weekends and holidays, else build and queue the digests."""
    if not calendar.is_working_day(now.date()):
        return []
    return enqueue_digests(store, build_digests(store, now, calendar, profile, fallback_to), now)


def _enqueue_all(
    store: Store,
    kind: str,
    per_unit: dict[str, list[AlertLine]],
    now: datetime,
    fallback_to: Sequence[str],
    regulation: Regulation,
) -> list[int]:
    ids = []
    for unit in sorted(per_unit):
        # The key makes a crash between the two transactions harmless: no second mail for the same lines.
        key = f"{kind}|{unit}|" + ";".join(sorted(f"{line.rule}|{line.mailbox}" for line in per_unit[unit]))
        mail = _mail(store, kind, unit, per_unit[unit], now, fallback_to, key, regulation)
        if mail is not None and (pk := enqueue(store, mail, now, DEDUP_WINDOW)) is not None:
            ids.append(pk)
    return ids


def zone_of(moment: datetime) -> ZoneInfo:
    """The time zone an aware ``now`` was made in (the service makes it in [organization] timezone)."""
    if not isinstance(moment.tzinfo, ZoneInfo):
        raise ValueError("an aware datetime in a named zone is expected (datetime.now(ZoneInfo(...)))")
    return moment.tzinfo


@cache
def _rule_titles() -> dict[str, tuple[str, str]]:
    return {rule_id: (r.title.vi, r.title.en) for rule_id, r in rule_catalogue().items()}


def _titles(rule: str) -> tuple[str, str]:
    return _rule_titles().get(rule, (rule, rule))


def describe(row: dict[str, Any]) -> str:
    """One log line for an outbox row."""
    return f"#{row['id']} {row['kind']} {row['unit']} → {', '.join(row['to_addrs'])}: {row['status']}"
