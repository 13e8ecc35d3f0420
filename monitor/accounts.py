"""Evaluate the account rules over every mailbox: facts from the store, rules from rules/accounts.py."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.calendar import Calendar
from monitor.store import Store
from rules.accounts import all_account_rules, check_compliance, mailbox_state
from rules.base import Finding
from rules.mailbox_facts import AccountProfile, LoginFact, MailboxFacts
from rules.profile import profile_table

WINDOW_DAYS = 40  # enough calendar days for the last 20 working days


def load_account_profile(name: str, trusted_networks: tuple[str, ...] = ()) -> AccountProfile:
    data: dict[str, Any] = dict(profile_table(name, "accounts"))
    if "checks_per_day" in data:
        data["checks_per_day"] = dict(data["checks_per_day"])
    return AccountProfile(**data, trusted_networks=trusted_networks)


@dataclass(frozen=True)
class MailboxReport:
    facts: MailboxFacts
    state: str
    findings: tuple[Finding, ...]
    checks_per_working_day: float

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.facts.address,
            "unit": self.facts.unit,
            "kind": self.facts.kind,
            "last_login": self.facts.last_login.isoformat() if self.facts.last_login else None,
            "state": self.state,
            "findings": [{"rule": f.rule, "detail": f.detail, "citation": f.citation} for f in self.findings],
            "checks_per_working_day": round(self.checks_per_working_day, 2),
            "quota_used_bytes": self.facts.quota_used_bytes,
        }


def _dt(value: str | None, tz: ZoneInfo) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def gather_facts(store: Store, now: datetime, tz: ZoneInfo) -> list[MailboxFacts]:
    """Every mailbox of the directory with its activity up to ``now`` (nothing after it is used)."""
    db = store.db
    cutoff = now.isoformat()
    window_start = (now - timedelta(days=WINDOW_DAYS)).isoformat()
    last_login: dict[str, datetime] = {}
    for user, when in db.execute(
        "select user, max(time) from login_events where kind = 'login' and master = 0 and time <= ? group by user",
        [cutoff],
    ).fetchall():
        last_login[user] = datetime.fromisoformat(when)
    for row in db.table("last_login").rows:
        when = datetime.fromisoformat(row["time"])
        if when <= now and (row["user"] not in last_login or last_login[row["user"]] < when):
            last_login[row["user"]] = when
    logins: dict[str, list[LoginFact]] = defaultdict(list)
    failures: dict[str, list[LoginFact]] = defaultdict(list)
    for user, when, kind, rip, proto in db.execute(
        "select user, time, kind, rip, protocol from login_events "
        "where master = 0 and time > ? and time <= ? order by time",
        [window_start, cutoff],
    ).fetchall():
        fact = LoginFact(datetime.fromisoformat(when), rip, proto)
        (logins if kind == "login" else failures)[user].append(fact)
    status = {r["address"]: r for r in db.table("mailbox_status").rows}
    history = {(r["address"], r["status"]): r["since"] for r in db.table("mailbox_history").rows}
    boxes = []
    for row in db.table("mailboxes").rows_where(order_by="address"):
        address = row["address"]
        polled = status.get(address, {})
        boxes.append(
            MailboxFacts(
                address=address,
                display_name=row["display_name"] or "",
                unit=row["unit"] or "",
                kind=row["kind"],
                status=row["status"],
                created_at=_dt(row["created_at"], tz),
                password_changed_at=_dt(row["password_changed_at"], tz),
                status_changed_at=_dt(history.get((address, row["status"])), tz),
                quota_mb=row["quota_mb"],
                last_login=last_login.get(address),
                logins=tuple(logins.get(address, ())),
                failures=tuple(failures.get(address, ())),
                quota_used_bytes=polled.get("quota_used_bytes"),
                oldest_unseen=_dt(polled.get("oldest_unseen"), tz),
                forwards=tuple(json.loads(polled.get("sieve_forwards") or "[]")),
            )
        )
    return boxes


def evaluate_mailboxes(
    boxes: list[MailboxFacts], profile: AccountProfile, now: datetime, cal: Calendar
) -> list[MailboxReport]:
    rules = all_account_rules()
    end = now.date() - timedelta(days=1)
    days = list(cal.working_days(end - timedelta(days=WINDOW_DAYS), end))[-20:]
    reports = []
    for box in boxes:
        findings = tuple(f for rule in rules for f in rule.check(box, profile, now, cal))
        mean = check_compliance(box, profile, days[0], days[-1], cal)[2] if days else 0.0
        reports.append(MailboxReport(box, mailbox_state(box, profile, now, cal), findings, mean))
    return reports


def as_of_moment(as_of: date | None, tz: ZoneInfo) -> datetime:
    """The end of ``as_of`` in the local zone (or the current moment)."""
    if as_of is None:
        return datetime.now(tz)
    return datetime.combine(as_of, time(23, 59, 59), tz)


def record_status_changes(store: Store) -> None:
    """Remember since when each mailbox has its directory status (for the departed deadline)."""
    now = datetime.now(ZoneInfo("UTC")).isoformat(timespec="seconds")
    store.db.execute(
        "insert or ignore into mailbox_history (address, status, since) select address, status, ? from mailboxes",
        [now],
    )
    store.db.conn.commit()
