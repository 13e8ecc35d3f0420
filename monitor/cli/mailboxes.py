"""`mailmon mailboxes`: every mailbox with its state, findings and checks per working day."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from monitor.cli.common import open_store
from monitor.config import Config
from monitor.mailboxes.calendar import calendar_for
from monitor.mailboxes.evaluate import as_of_moment, evaluate_mailboxes, gather_facts


def run(config: Config, args: Any) -> int:
    tz = ZoneInfo(config.organization.timezone)
    now = as_of_moment(args.as_of, tz)
    store = open_store(config)
    profile = config.account_profile()
    boxes = [b for b in gather_facts(store, now, tz, profile) if not args.unit or b.unit == args.unit]
    reports = evaluate_mailboxes(boxes, profile, now, calendar_for(config.calendar))
    reports = [r for r in reports if not args.status or r.state == args.status]
    if args.json:
        print(json.dumps([r.as_json() for r in reports], ensure_ascii=False, indent=2))
        return 0
    for r in reports:
        last = r.facts.last_login.date().isoformat() if r.facts.last_login else "-"
        print(f"{r.facts.address:<40} {r.facts.unit:<12} {r.state:<12} last login {last}")
        for f in r.findings:
            print(f"    {f.rule} ({f.citation}): {f.detail}")
    print(f"{len(reports)} hộp thư / mailboxes; {profile.regulation.short_name}: {profile.regulation.heading}")
    return 0
