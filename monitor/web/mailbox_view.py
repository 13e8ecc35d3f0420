"""The mailboxes page's data: every mailbox's state, checks per working day and findings, evaluated in
the background every ``[web] mailbox_refresh_minutes`` and kept in the store (mailbox_view).

The account rules over every mailbox take seconds at a hundred thousand mailboxes (bench/
account_rules.py); a page must answer in milliseconds, so it reads the last evaluation, and shows
when that was. The refresh runs on a connection and thread of its own and writes in chunks, so
neither the filter nor the console's pages wait for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import MailboxReport, evaluate_mailboxes, gather_facts
from monitor.store import Store
from monitor.store.console import Console
from rules.mailbox_facts import AccountProfile


def view_rows(reports: list[MailboxReport], profile: AccountProfile) -> list[dict[str, Any]]:
    rows = []
    for r in reports:
        target = profile.check_target(r.facts.kind)
        rows.append(
            {
                "address": r.facts.address,
                "unit": r.facts.unit,
                "kind": r.facts.kind,
                "state": r.state,
                "last_login": r.facts.last_login.isoformat(timespec="seconds") if r.facts.last_login else None,
                "checks_per_working_day": round(r.checks_per_working_day, 2),
                "check_target": target.checks if target else None,
                "quota_used_bytes": r.facts.quota_used_bytes,
                "findings": [{"rule": f.rule, "detail": f.detail, "citation": f.citation} for f in r.findings],
            }
        )
    return rows


def refresh(database: Path, profile: AccountProfile, calendar: Calendar, tz: ZoneInfo) -> int:
    """Evaluate every mailbox now and put the result in place; returns how many were evaluated."""
    store = Store(database)
    try:
        now = datetime.now(tz)
        reports = evaluate_mailboxes(gather_facts(store, now, tz, profile), profile, now, calendar)
        rows = view_rows(reports, profile)
        Console(store.db.conn).replace_mailbox_view(rows, datetime.now(UTC).isoformat(timespec="seconds"))
        return len(rows)
    finally:
        store.close()
