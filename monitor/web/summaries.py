"""What the console's pages read instead of computing it per request, kept up to date in the background
on a connection and thread of their own (neither the filter nor the pages wait for them):

- every mailbox's state, checks per working day and findings (mailbox_view), evaluated anew every
  ``[web] mailbox_refresh_minutes``: the account rules over a hundred thousand mailboxes take
  seconds (bench/account_rules.py), a page must answer in milliseconds; the page says when;
- findings per local day, unit and rule (finding_counts), counted as they arrive, every
  ``COUNT_SECONDS``: the overview reads a few rows instead of a day of findings.
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


COUNT_SECONDS = 30


def count_findings(database: Path, tz: ZoneInfo) -> int:
    """Count the findings recorded since the last pass (all of them, batch by batch, the first time)."""
    store = Store(database)
    try:
        offset = datetime.now(tz).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        console = Console(store.db.conn)
        total = 0
        while n := console.count_new_findings(f"{minutes:+d} minutes"):
            total += n
        return total
    finally:
        store.close()


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
