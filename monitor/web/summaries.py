"""What the console's pages read instead of computing it per request, kept up to date in the background
by `mailmon run`'s scheduled jobs on the batch store (monitor/service/jobs.py: neither the filter nor
the pages wait for them):

- every mailbox's state, checks per working day and findings (mailbox_view), evaluated anew every
  ``[web] mailbox_refresh_minutes``: the account rules over a hundred thousand mailboxes take
  seconds (bench/account_rules.py), a page must answer in milliseconds; the page says when;
- findings per local day, unit and rule (finding_counts), counted as they arrive, every
  ``COUNT_SECONDS``: the overview reads a few rows instead of a day of findings.

The store is asked in short calls (facts read, then the evaluation off the store's thread, then the
result written in slices; findings counted a batch per call), so other batch work interleaves.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import MailboxReport, evaluate_mailboxes, gather_facts
from monitor.store import AsyncStore
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


async def count_findings(store: AsyncStore, tz: ZoneInfo) -> int:
    """Count the findings recorded since the last pass (all of them, batch by batch, the first time)."""
    offset = datetime.now(tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    total = 0
    while n := await store.call(lambda s: s.console.count_new_findings(f"{minutes:+d} minutes")):
        total += n
    return total


async def refresh(store: AsyncStore, profile: AccountProfile, calendar: Calendar, tz: ZoneInfo) -> int:
    """Evaluate every mailbox now and put the result in place; returns how many were evaluated."""
    now = datetime.now(tz)
    facts = await store.call(lambda s: gather_facts(s, now, tz, profile))
    rows = await asyncio.to_thread(lambda: view_rows(evaluate_mailboxes(facts, profile, now, calendar), profile))
    evaluated_at = datetime.now(UTC).isoformat(timespec="seconds")
    await store.call(lambda s: s.console.replace_mailbox_view(rows, evaluated_at))
    return len(rows)
