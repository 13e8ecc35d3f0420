"""What the monthly and yearly reports say per unit, gathered from the store (no formatting here), under
the profile in force: its check targets, its deadlines for the IT department's requests."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import (
    RequestReport,
    evaluate_mailboxes,
    evaluate_requests,
    gather_facts,
    gather_requests,
)
from monitor.store import Store
from rules.mailbox_facts import AccountProfile

NO_UNIT = ""


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive

    @property
    def months(self) -> list[str]:
        """'YYYY-MM' for every month of the period."""
        out, day = [], self.start.replace(day=1)
        while day <= self.end:
            out.append(f"{day:%Y-%m}")
            day = (day + timedelta(days=32)).replace(day=1)
        return out


def parse_period(text: str) -> Period:
    """'2026' (a year) or '2026-11' (a month)."""
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        return Period(text, date(year, 1, 1), date(year, 12, 31))
    if match := re.fullmatch(r"(\d{4})-(\d{2})", text):
        first = date(int(match[1]), int(match[2]), 1)
        return Period(text, first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1))
    raise ValueError(f"period: expected YYYY or YYYY-MM, got {text!r}")


@dataclass(frozen=True)
class MailboxLine:
    address: str
    kind: str
    state: str
    checks_per_working_day: float
    target: int | None  # None: the regulation sets no check frequency for this kind of mailbox
    findings: tuple[str, ...]


@dataclass
class UnitReport:
    unit: str
    name: str
    it_contacts: list[str]
    mailboxes: list[MailboxLine] = field(default_factory=list)
    findings: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))  # rule → month → n
    actions: Counter[str] = field(default_factory=Counter)  # quarantine / reject / tag / hold → n
    verdicts: Counter[str] = field(default_factory=Counter)  # messages by verdict
    requests: list[RequestReport] = field(default_factory=list)  # the unit's requests to the IT department

    @property
    def public_provider_messages(self) -> int:
        """Messages exchanged with free-mail mailboxes (public-provider-mailbox findings) in the period."""
        return (
            sum(self.findings["public-provider-mailbox"].values()) if "public-provider-mailbox" in self.findings else 0
        )

    @property
    def late_requests(self) -> int:
        return sum(1 for r in self.requests if r.late)

    @property
    def states(self) -> Counter[str]:
        return Counter(m.state for m in self.mailboxes)

    @property
    def compliance(self) -> float | None:
        """Mean over active mailboxes of checks per working day over the target, capped at 1."""
        ratios = [
            min(1.0, m.checks_per_working_day / m.target) for m in self.mailboxes if m.state == "active" and m.target
        ]
        return sum(ratios) / len(ratios) if ratios else None

    def by_month(self, months: list[str]) -> list[int]:
        return [sum(per_month[m] for per_month in self.findings.values()) for m in months]


def gather(
    store: Store,
    period: Period,
    tz: ZoneInfo,
    profile: AccountProfile,
    unit: str | None = None,
    calendar: Calendar | None = None,
    now: datetime | None = None,
) -> list[UnitReport]:
    """Per unit: mailboxes and states (as of the period's end or now), findings, actions, and the requests
    made in the period with their deadlines.

    ``tz`` is the organisation's time zone ([organization] timezone): it decides where days and months
    begin. A finding or message counts for every unit it is about (decided when it was recorded).
    """
    calendar = calendar or Calendar()
    now = now or datetime.now(tz)
    as_of = min(now, datetime.combine(period.end, time(23, 59, 59), tz))
    units: dict[str, UnitReport] = {}
    for u in store.mailboxes.units():
        units[u.unit] = UnitReport(u.unit, u.name, list(u.it_contacts))

    def of(name: str) -> UnitReport:
        if name not in units:
            units[name] = UnitReport(name, name or "(ngoài danh bạ / not in the directory)", [])
        return units[name]

    reports = evaluate_mailboxes(gather_facts(store, as_of, tz, profile), profile, as_of, calendar)
    for r in reports:
        target = profile.check_target(r.facts.kind)
        line = MailboxLine(
            r.facts.address,
            r.facts.kind,
            r.state,
            r.checks_per_working_day,
            target.checks if target else None,
            tuple(f.rule for f in r.findings),
        )
        of(r.facts.unit).mailboxes.append(line)
    start = datetime.combine(period.start, time(0), tz).isoformat()
    end = datetime.combine(period.end + timedelta(days=1), time(0), tz).isoformat()
    for when, rule, action, about in store.messages.findings_by_unit(start, end):
        month = _local(when, tz)[:7]
        of(about).findings[rule][month] += 1
        of(about).actions[action] += 1
    for verdict, about in store.messages.verdicts_by_unit(start, end):
        of(about).verdicts[verdict] += 1
    for request in evaluate_requests(gather_requests(store, tz), profile, as_of, calendar):
        if period.start <= request.request.requested_at.date() <= period.end or (
            request.request.completed_at is None and request.request.requested_at.date() < period.start
        ):
            of(request.request.unit).requests.append(request)
    chosen = [units[u] for u in sorted(units) if unit is None or u == unit]
    return [u for u in chosen if u.unit or u.findings or u.mailboxes or u.requests]


def _local(stamp: str, tz: ZoneInfo) -> str:
    parsed = datetime.fromisoformat(stamp)
    return (parsed.astimezone(tz) if parsed.tzinfo else parsed).isoformat()
