"""Evaluate the account rules over every mailbox (and the request rules over every IT request): facts
from the store, rules from rules/, numbers and clauses from the profile in force."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.mailboxes.calendar import Calendar
from monitor.store import Store, utcnow
from rules.accounts import all_account_rules, check_compliance, mailbox_state
from rules.base import Finding
from rules.mailbox_facts import AccountProfile, HandoverChange, LoginFact, MailboxFacts
from rules.profile import load_profile
from rules.requests import ItRequestOverdue, RequestFacts, request_due

WINDOW_DAYS = 40  # enough calendar days for the last 20 working days


def load_account_profile(name: str, trusted_networks: tuple[str, ...] = ()) -> AccountProfile:
    """A shipped profile's account part, without config.toml (tests, benchmarks); the service uses
    ``Config.account_profile()``."""
    return load_profile(name, trusted_networks=trusted_networks).accounts


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


def gather_facts(store: Store, now: datetime, tz: ZoneInfo, profile: AccountProfile) -> list[MailboxFacts]:
    """Every mailbox of the directory with its activity up to ``now`` (nothing after it is used).

    Activity comes from login_days (one row per user and day, kept at ingest), not from every event.
    """
    with store.snapshot():
        last_login = _last_logins(store, now, tz)
        for user, stamp in store.logins.imported_last_logins():
            when = datetime.fromisoformat(stamp)
            if when <= now and (user not in last_login or last_login[user] < when):
                last_login[user] = when
        login_times, sources = _login_days(
            store, now - timedelta(days=WINDOW_DAYS), now, bool(profile.trusted_networks)
        )
        recent_logins, recent_failures = _recent(store, now, tz, profile)
        status = store.mailboxes.swept()
        history = store.mailboxes.status_history()
        directory = store.mailboxes.mailboxes()
        resets = store.requests.last_resets()
        changes = store.unit_people.latest_changes()
    boxes = []
    for box in directory:
        address, unit, kind = box.address, box.unit or "", box.kind
        polled = status.get(address, {})
        reset = max(filter(None, (_dt(box.password_reset_at, tz), _dt(resets.get(address), tz))), default=None)
        change = changes.get((unit, profile.handover_trigger or ""))
        forwards = polled.get("sieve_forwards")
        boxes.append(
            MailboxFacts(
                address=address,
                display_name=box.display_name or "",
                unit=box.unit or "",
                kind=box.kind,
                status=box.status,
                created_at=_dt(box.created_at, tz),
                password_changed_at=_dt(box.password_changed_at, tz),
                status_changed_at=_dt(history.get((address, box.status)), tz),
                quota_mb=box.quota_mb,
                last_login=last_login.get(address),
                login_times=login_times.get(address, {}),
                recent_logins=tuple(recent_logins.get(address, ())),
                recent_failures=tuple(recent_failures.get(address, ())),
                login_sources=frozenset(sources.get(address, ())),
                quota_used_bytes=polled.get("quota_used_bytes"),
                oldest_unseen=_dt(polled.get("oldest_unseen"), tz),
                forwards=tuple(json.loads(forwards)) if forwards else (),
                password_reset_at=reset if reset is None or reset <= now else None,
                handover=_handover(change, profile, kind, tz, now),
            )
        )
    return boxes


def _handover(
    change: tuple[str, str, str] | None, profile: AccountProfile, kind: str, tz: ZoneInfo, now: datetime
) -> HandoverChange | None:
    """The last change of the person the profile's handover clause names, for the kinds it covers."""
    if change is None or profile.handover_trigger is None or kind not in profile.handover_kinds:
        return None
    since = _dt(change[2], tz)
    if since is None or since > now:
        return None
    return HandoverChange(profile.handover_trigger, change[0], change[1], since)


def _login_days(
    store: Store, start: datetime, now: datetime, with_sources: bool
) -> tuple[dict[str, dict[date, tuple[int, ...]]], dict[str, set[str]]]:
    """The owner's login instants per user and day, for the days after ``start``'s up to ``now``, and the
    addresses they came from (if asked)."""
    first = start.date() + timedelta(days=1)
    last = now.date() + timedelta(days=1)  # day strings are in each line's own offset
    dates = {d.isoformat(): d for d in (first + timedelta(days=i) for i in range((last - first).days + 1))}
    until = int(now.timestamp())
    times: dict[str, dict[date, tuple[int, ...]]] = defaultdict(dict)
    sources: dict[str, set[str]] = defaultdict(set)
    for user, days, logins, rips in store.logins.logins_per_user(
        first.isoformat(), last.isoformat(), until, with_sources
    ):
        times[user] = dict(zip(map(dates.__getitem__, days.split(";")), map(_instants, logins.split(";")), strict=True))
        if rips:
            sources[user].update(rips.split(","))
    # days with events after ``now``: only the logins before it count
    for user, day, logins, rips in store.logins.days_ending_after(first.isoformat(), last.isoformat(), until):
        pairs = zip(map(int, logins.split(",")), rips.split(","), strict=True)
        kept = sorted((t, rip) for t, rip in pairs if t <= until)
        if kept:
            times[user][dates[day]] = tuple(t for t, _ in kept)
            if with_sources:
                sources[user].update(rip for _, rip in kept)
    return times, sources


def _instants(logins: str) -> tuple[int, ...]:
    return tuple(sorted(map(int, logins.split(","))))


def _last_logins(store: Store, now: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """Each user's last owner login at or before ``now``."""
    cutoff, until = now.isoformat(), now.timestamp()
    last: dict[str, datetime] = {}
    for user, stamp in store.logins.last_owner_logins(cutoff):
        if stamp is not None:
            last[user] = datetime.fromisoformat(stamp)
    # A day whose last login is after ``now`` may still hold earlier ones.
    low, high = (now.date() - timedelta(days=1)).isoformat(), (now.date() + timedelta(days=1)).isoformat()
    for user, logins in store.logins.days_with_logins_after(low, high, cutoff):
        before = [int(t) for t in logins.split(",") if int(t) <= until]
        if before:
            when = datetime.fromtimestamp(max(before), tz)
            if user not in last or last[user] < when:
                last[user] = when
    return last


def _recent(
    store: Store, now: datetime, tz: ZoneInfo, profile: AccountProfile
) -> tuple[dict[str, list[LoginFact]], dict[str, list[LoginFact]]]:
    """The owner's logins and the failed logins within the anomaly windows, per user, in time order."""
    window = timedelta(minutes=max(profile.failed_logins_window_minutes, profile.networks_window_minutes))
    since, until = (now - window).timestamp(), now.timestamp()
    low, high = ((now - window).date() - timedelta(days=1)).isoformat(), (now.date() + timedelta(days=1)).isoformat()
    logins: dict[str, list[LoginFact]] = defaultdict(list)
    failures: dict[str, list[LoginFact]] = defaultdict(list)
    for row in store.logins.recent_days(low, high, int(since)):
        user = row[0]
        for out, times, rips in ((logins, row[1], row[2]), (failures, row[3], row[4])):
            if times is None or rips is None:
                continue
            for t, rip in sorted(zip((int(t) for t in times.split(",")), rips.split(","), strict=True)):
                if since < t <= until:
                    out[user].append(LoginFact(datetime.fromtimestamp(t, tz), rip))
    return logins, failures


def evaluate_mailboxes(
    boxes: list[MailboxFacts], profile: AccountProfile, now: datetime, cal: Calendar
) -> list[MailboxReport]:
    """Each mailbox's state and findings under the rules the profile has in force, citing its clauses."""
    rules = [rule for rule in all_account_rules() if profile.in_force(rule.id)]
    end = now.date() - timedelta(days=1)
    days = list(cal.working_days(end - timedelta(days=WINDOW_DAYS), end))[-20:]
    reports = []
    for box in boxes:
        findings = tuple(profile.cite(f) for rule in rules for f in rule.check(box, profile, now, cal))
        mean = check_compliance(box, profile, days[0], days[-1], cal, now.tzinfo)[2] if days else 0.0
        reports.append(MailboxReport(box, mailbox_state(box, profile, now, cal), findings, mean))
    return reports


@dataclass(frozen=True)
class RequestReport:
    request: RequestFacts
    due: date | None  # None: the regulation gives this kind of request no deadline
    findings: tuple[Finding, ...]

    @property
    def late(self) -> bool:
        """Done after its due day, or still open past it."""
        done = self.request.completed_at
        return self.due is not None and bool(self.findings or (done and done.date() > self.due))


def gather_requests(store: Store, tz: ZoneInfo, unit: str | None = None) -> list[RequestFacts]:
    out = []
    for row in store.requests.listed(unit):
        requested = _dt(row["requested_at"], tz)
        if requested is None:
            continue
        out.append(
            RequestFacts(
                row["id"],
                row["kind"],
                row["mailbox"],
                row["unit"],
                requested,
                _dt(row["completed_at"], tz),
                row["note"] or "",
            )
        )
    return out


def evaluate_requests(
    requests: list[RequestFacts], profile: AccountProfile, now: datetime, cal: Calendar
) -> list[RequestReport]:
    """Each request made by ``now``, with its due day under the profile and a finding if it is overdue."""
    rule = ItRequestOverdue()
    in_force = profile.in_force(rule.id)
    reports = []
    for request in requests:
        if request.requested_at > now:
            continue
        if request.completed_at is not None and request.completed_at > now:
            request = replace(request, completed_at=None)
        findings = tuple(profile.cite(f) for f in rule.check(request, profile, now, cal)) if in_force else ()
        reports.append(RequestReport(request, request_due(request, profile, cal), findings))
    return reports


def as_of_moment(as_of: date | None, tz: ZoneInfo) -> datetime:
    """The end of ``as_of`` in the local zone (or the current moment)."""
    if as_of is None:
        return datetime.now(tz)
    return datetime.combine(as_of, time(23, 59, 59), tz)


def record_status_changes(store: Store) -> None:
    """Remember since when each mailbox has its directory status (for the departed deadline)."""
    store.mailboxes.record_status_changes(utcnow())
