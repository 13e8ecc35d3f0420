"""Prometheus metrics: counters bumped where events happen, and store state read at scrape time."""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import MailboxReport, evaluate_mailboxes, gather_facts
from monitor.store import Store
from rules.accounts import quota_limit_mb
from rules.mailbox_facts import AccountProfile

DIRECTIONS = ("outbound", "inbound", "internal", "relay")
VERDICTS = ("pass", "tag", "quarantine", "reject", "held")
DEPENDENCIES = ("reinject", "clamd", "rspamd", "imap", "log_follower")
# The states rules.accounts.mailbox_state can give; every one is exported, zeros included,
# so a dashboard sum over states is the unit's number of mailboxes.
STATES = ("active", "suspend-due", "removal-due", "suspended", "departed", "removed")
# A message takes milliseconds to a few seconds; archives and clamd can push it to the limits.
INSPECTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNKNOWN_UNIT = "unknown"


class Metrics:
    """Every metric mailmon exports, on a registry the service passes in (never the global one, so a
    test or a second instance gets metrics of its own)."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self.registry = registry
        self.messages = Counter(
            "mailmon_messages", "Messages the SMTP filter decided on.", ["direction", "verdict"], registry=registry
        )
        self.message_bytes = Counter(
            "mailmon_message_bytes", "Size of the messages the filter decided on.", ["direction"], registry=registry
        )
        self.inspection = Histogram(
            "mailmon_inspection_duration_seconds",
            "Time from end of DATA to the verdict, per message.",
            ["direction"],
            buckets=INSPECTION_BUCKETS,
            registry=registry,
        )
        self.findings = Counter(
            "mailmon_findings",
            "Rule findings, by rule, action taken and unit.",
            ["rule", "action", "unit"],
            registry=registry,
        )
        self.dependency_errors = Counter(
            "mailmon_dependency_errors", "Failed calls to a dependency.", ["dependency"], registry=registry
        )
        self.job_leader_gauge = Gauge(
            "mailmon_job_leader",
            "1 if this node runs the job (sweep, alerts, digest, retention, console counts, mailbox_metrics: the "
            "mailbox states on its /metrics), else 0: with a "
            "shared PostgreSQL store one node leads each job and another takes it over if that node dies.",
            ["job"],
            registry=registry,
        )
        self.dependency_up_gauge = Gauge(
            "mailmon_dependency_up",
            "1 if the last call to the dependency worked, else 0.",
            ["dependency"],
            registry=registry,
        )
        self.fail_closed = Counter(
            "mailmon_filter_fail_closed",
            "Messages answered 451 so Postfix keeps and retries them, by reason.",
            ["reason"],
            registry=registry,
        )
        self.unscored = Counter(
            "mailmon_spam_unscored",
            "Messages rspamd could not score, by what became of them (passed: fail_open; deferred: 451).",
            ["outcome"],
            registry=registry,
        )
        self.store_pending_writes = Gauge(
            "mailmon_store_pending_writes",
            "Records the filter made that wait for the database (it was locked); retried until written.",
            registry=registry,
        )
        self.connections_open = Gauge(
            "mailmon_filter_connections_open",
            "Connections open to the SMTP filter now (Postfix opens at most its maxproc of them).",
            registry=registry,
        )
        self.connections_refused = Counter(
            "mailmon_filter_connections_refused",
            "Connections turned away with 421 because the filter had max_connections open already.",
            registry=registry,
        )
        self.sweeps = Counter("mailmon_sweeps", "Mailbox sweeps finished, by result.", ["result"], registry=registry)
        self.sweep_duration = Gauge(
            "mailmon_sweep_duration_seconds", "Duration of the last finished sweep.", registry=registry
        )
        self.alert_mails = Counter(
            "mailmon_alert_mails_sent", "Alert and digest mails accepted by the relay.", ["kind"], registry=registry
        )
        self.alert_failures = Counter(
            "mailmon_alert_mail_failures",
            "Failed attempts to send an alert or digest mail.",
            ["kind"],
            registry=registry,
        )
        Info("mailmon_build", "The running mailmon.", registry=registry).info({"version": version})
        self.last_sweep_success = 0.0
        # Zero series from the start, so rate() and absent() work before the first event.
        for direction in DIRECTIONS:
            self.message_bytes.labels(direction)
            for verdict in VERDICTS:
                self.messages.labels(direction, verdict)
        for dependency in DEPENDENCIES:
            self.dependency_errors.labels(dependency)
        for result in ("ok", "failed"):
            self.sweeps.labels(result)
        for outcome in ("passed", "deferred"):
            self.unscored.labels(outcome)
        for kind in ("alert", "digest", "reminder"):
            self.alert_mails.labels(kind)
            self.alert_failures.labels(kind)

    # -- called from the SMTP filter -----------------------------------------------------------
    def message_filtered(self, direction: str, verdict: str, seconds: float, size_bytes: int) -> None:
        self.messages.labels(direction, verdict).inc()
        self.message_bytes.labels(direction).inc(size_bytes)
        self.inspection.labels(direction).observe(seconds)

    def finding(self, rule: str, action: str, unit: str | None = None) -> None:
        self.findings.labels(rule, action, unit or UNKNOWN_UNIT).inc()

    def filter_fail_closed(self, reason: str) -> None:
        self.fail_closed.labels(reason).inc()

    def spam_unscored(self, outcome: str) -> None:
        self.unscored.labels(outcome).inc()

    def store_pending(self, count: int) -> None:
        self.store_pending_writes.set(count)

    def watch_connections(self, count: Callable[[], int]) -> None:
        """``mailmon_filter_connections_open`` is read from ``count`` at scrape time."""
        self.connections_open.set_function(lambda: float(count()))

    def connection_refused(self) -> None:
        self.connections_refused.inc()

    # -- dependencies (reinject, clamd, rspamd, imap, log_follower) -----------------------------
    def job_leader(self, job: str, leads: bool) -> None:
        self.job_leader_gauge.labels(job).set(1 if leads else 0)

    def dependency_up(self, dependency: str, up: bool) -> None:
        """The last call to ``dependency`` worked (up) or failed; a failure is also counted."""
        self.dependency_up_gauge.labels(dependency).set(1 if up else 0)
        if not up:
            self.dependency_errors.labels(dependency).inc()

    # -- scheduled work ------------------------------------------------------------------------
    def sweep_finished(self, seconds: float, ok: bool, when: float | None = None) -> None:
        self.sweeps.labels("ok" if ok else "failed").inc()
        self.sweep_duration.set(seconds)
        if ok:
            self.last_sweep_success = time.time() if when is None else when

    def alert_sent(self, kind: str = "alert") -> None:
        self.alert_mails.labels(kind).inc()

    def alert_failed(self, kind: str = "alert") -> None:
        self.alert_failures.labels(kind).inc()

    def add_store_collector(
        self,
        open_store: Callable[[], Store],
        profile: AccountProfile,
        calendar: Calendar,
        tz: ZoneInfo,
        cache_seconds: float = 60.0,
        leads: Callable[[], bool] = lambda: True,
    ) -> StoreCollector:
        """Export what the store holds (quarantine, outbox, mailbox states), read at scrape time; the
        mailbox states only while ``leads`` (one node of a shared store exports them)."""
        collector = StoreCollector(
            open_store, profile, calendar, tz, cache_seconds, lambda: self.last_sweep_success, leads=leads
        )
        self.registry.register(collector)
        return collector


class StoreCollector(Collector):
    """Reads the store on each scrape; the mailbox evaluation is cached for ``cache_seconds``.

    It opens its own short-lived connection in the scraping thread (``open_store``): SQLite in WAL mode
    lets it read while the service's store threads write, PostgreSQL always does, and no connection
    crosses threads.

    The mailbox states are the same whichever node reads them; with several nodes on one store, each
    exporting them would count every mailbox once per node in a dashboard's ``sum``, and each would
    evaluate every mailbox. So only the node that leads ``mailbox_metrics`` (``leads``) exports them.
    """

    def __init__(
        self,
        open_store: Callable[[], Store],
        profile: AccountProfile,
        calendar: Calendar,
        tz: ZoneInfo,
        cache_seconds: float = 60.0,
        last_sweep: Callable[[], float] = lambda: 0.0,
        clock: Callable[[], float] = time.time,
        leads: Callable[[], bool] = lambda: True,
    ) -> None:
        self.open_store, self.profile, self.calendar, self.tz = open_store, profile, calendar, tz
        self.cache_seconds, self.last_sweep, self.clock, self.leads = cache_seconds, last_sweep, clock, leads
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] = (float("-inf"), [])

    def describe(self) -> Iterable[Metric]:
        # Names only, so registering does not open the database.
        return [*(family for family, _ in _mailbox_families()), *_store_families()]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            store = self.open_store()
            try:
                families = self._read_store(store)
                if not self.leads():
                    self._cached = (float("-inf"), [])
                    return families
                at, cached = self._cached
                if self.clock() - at >= self.cache_seconds:
                    cached = self._mailbox_state(store)
                    self._cached = (self.clock(), cached)
            finally:
                store.close()
        return families + cached

    def _read_store(self, store: Store) -> list[Metric]:
        q_messages, q_bytes, pending, oldest, last_sweep, dead = _store_families()
        count, size = store.quarantine.held_totals()
        q_messages.add_metric([], count)
        q_bytes.add_metric([], size)
        depth, first = store.outbox.pending_totals()
        age = max(0.0, self.clock() - datetime.fromisoformat(first).timestamp()) if first else 0.0
        pending.add_metric([], depth)
        oldest.add_metric([], age)
        dead.add_metric([], store.outbox.dead_letters())
        # The last sweep of this process, or (after a restart) the newest successful poll it stored.
        newest = store.mailboxes.last_successful_poll()
        stored = 0.0
        if newest:
            parsed = datetime.fromisoformat(newest)
            stored = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        last_sweep.add_metric([], max(self.last_sweep(), stored))
        return [q_messages, q_bytes, pending, oldest, last_sweep, dead]

    def _mailbox_state(self, store: Store) -> list[Metric]:
        now = datetime.fromtimestamp(self.clock(), self.tz)
        reports = evaluate_mailboxes(gather_facts(store, now, self.tz, self.profile), self.profile, now, self.calendar)
        return mailbox_families(reports, self.profile)


def _store_families() -> list[GaugeMetricFamily]:
    return [
        GaugeMetricFamily("mailmon_quarantine_messages", "Messages held in quarantine."),
        GaugeMetricFamily("mailmon_quarantine_bytes", "Size of the messages held in quarantine.", unit="bytes"),
        GaugeMetricFamily("mailmon_alert_outbox_pending", "Alert and digest mails waiting to be sent."),
        GaugeMetricFamily(
            "mailmon_alert_outbox_oldest_age_seconds", "Age of the oldest mail waiting in the alert outbox."
        ),
        GaugeMetricFamily(
            "mailmon_sweep_last_success_timestamp_seconds", "Unix time of the last successful mailbox sweep."
        ),
        GaugeMetricFamily(
            "mailmon_alert_outbox_dead_letters",
            "Alert and digest mails given up on (refused for good, or out of attempts); kept in the outbox.",
        ),
    ]


def _mailbox_families() -> list[tuple[GaugeMetricFamily, str]]:
    """(family, key) pairs; the key says which per-unit number fills it."""
    return [
        (GaugeMetricFamily("mailmon_mailboxes", "Mailboxes by unit and state.", labels=["unit", "state"]), "state"),
        (GaugeMetricFamily("mailmon_mailboxes_over_quota", "Mailboxes over quota.", labels=["unit"]), "quota"),
        (
            GaugeMetricFamily(
                "mailmon_mailboxes_password_overdue", "Mailboxes whose password is overdue.", labels=["unit"]
            ),
            "password",
        ),
        (
            GaugeMetricFamily(
                "mailmon_check_frequency_compliance_ratio",
                "Active mailboxes' mean checks per working day over their target, capped at 1, averaged per unit.",
                labels=["unit"],
            ),
            "ratio",
        ),
    ]


def mailbox_families(reports: Iterable[MailboxReport], profile: AccountProfile) -> list[Metric]:
    """Per-unit mailbox numbers from the account rules' reports (never one series per mailbox)."""
    states: dict[str, Tally[str]] = defaultdict(Tally)
    over_quota: Tally[str] = Tally()
    password: Tally[str] = Tally()
    ratios: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        unit = report.facts.unit or UNKNOWN_UNIT
        states[unit][report.state] += 1
        limit_mb = quota_limit_mb(report.facts, profile)
        used = report.facts.quota_used_bytes
        if used is not None and limit_mb is not None and used > limit_mb * 2**20:
            over_quota[unit] += 1
        if any(f.rule == "password-age" for f in report.findings):
            password[unit] += 1
        target = profile.check_target(report.facts.kind)
        if report.state == "active" and target is not None:  # no target, nothing to comply with
            ratios[unit].append(min(1.0, report.checks_per_working_day / target.checks))
    out: list[Metric] = []
    for family, key in _mailbox_families():
        for unit in sorted(states):
            if key == "state":
                for state in STATES:
                    family.add_metric([unit, state], states[unit][state])
            elif key == "quota":
                family.add_metric([unit], over_quota[unit])
            elif key == "password":
                family.add_metric([unit], password[unit])
            elif ratios[unit]:
                family.add_metric([unit], sum(ratios[unit]) / len(ratios[unit]))
        out.append(family)
    return out
