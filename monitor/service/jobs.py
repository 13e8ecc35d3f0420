"""The scheduled work of `mailmon run`: sweeps, alert mail, the morning digest, retention, and what
the console's pages read (every mailbox evaluated, findings counted by unit; monitor/web/summaries.py).

Every job uses the batch store (its own connection and thread), never the filter's: a sweep of
10,000 mailboxes or a digest over all of them cannot make an SMTP answer wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from exporters.metrics.instruments import Metrics
from exporters.notify.alerts import daily_digest, enqueue_new_findings
from exporters.notify.outbox import OutboxSender
from exporters.reports.report import enqueue_reminders
from monitor.config import Config
from monitor.mailboxes.calendar import calendar_for
from monitor.mailboxes.sweep import sweep_beside
from monitor.store import AsyncStore, Store
from monitor.web.summaries import count_findings
from monitor.web.summaries import refresh as refresh_mailbox_view

log = logging.getLogger("mailmon.jobs")

# The sending windows look back one day at most; two keep a margin.
SEND_EVENTS_KEPT = timedelta(days=2)


@dataclass
class Jobs:
    config: Config
    store: AsyncStore
    metrics: Metrics
    last_sweep: str = field(default="chưa / not yet")

    async def sweep(self) -> None:
        config = self.config
        try:
            report = await sweep_beside(config, self.store)
        except Exception:
            log.exception("sweep failed")
            self.metrics.sweep_finished(0.0, ok=False)
            self.metrics.dependency_up("imap", False)
            return
        ok = report.errors < report.boxes or report.boxes == 0
        self.metrics.sweep_finished(report.seconds, ok=ok)
        self.metrics.dependency_up("imap", ok)
        self.last_sweep = datetime.now(UTC).isoformat(timespec="seconds")
        log.info("sweep: %d mailboxes in %.1fs, %d errors", report.boxes, report.seconds, report.errors)

    async def alerts(self) -> None:
        """Urgent findings recorded since the last run go to the units' IT contacts; then send the outbox."""
        config = self.config
        now = datetime.now(ZoneInfo(config.organization.timezone))
        calendar = calendar_for(config.calendar)
        profile = config.account_profile()
        fallback = config.alerts.fallback_to
        try:
            await self.store.call(lambda s: enqueue_new_findings(s, now, calendar, profile, fallback))
            sender = OutboxSender(
                config.alerts.relay,
                config.alerts.starttls,
                config.alerts.username or None,
                config.alerts.password_file,
                config.alerts.from_address,
                metrics=self.metrics,
            )
            await sender.flush(self.store)
        except Exception:
            log.exception("alerts job failed (the outbox keeps every mail for the next run)")

    async def digest(self) -> None:
        config = self.config
        now = datetime.now(ZoneInfo(config.organization.timezone))
        calendar = calendar_for(config.calendar)
        profile = config.account_profile()
        fallback = config.alerts.fallback_to
        try:
            await self.store.call(lambda s: daily_digest(s, now, calendar, profile, fallback))
            await self.store.call(lambda s: enqueue_reminders(s, now, calendar, profile, fallback))
        except Exception:
            log.exception("digest job failed")

    async def mailbox_view(self) -> None:
        """The console's mailboxes page: every mailbox evaluated anew."""
        config = self.config
        tz = ZoneInfo(config.organization.timezone)
        try:
            n = await refresh_mailbox_view(self.store, config.account_profile(), calendar_for(config.calendar), tz)
            log.debug("console: %d mailboxes evaluated", n)
        except Exception:
            log.exception("console: mailbox evaluation failed (the page shows the previous one)")

    async def finding_counts(self) -> None:
        """The console's overview: findings counted by day, unit and rule as they arrive."""
        try:
            await count_findings(self.store, ZoneInfo(self.config.organization.timezone))
        except Exception:
            log.exception("console: counting findings failed (the next pass goes on from the same place)")

    async def retention(self) -> None:
        config = self.config.daemon
        now = datetime.now(UTC)
        records_cutoff = (now - timedelta(days=config.retention_days_findings)).isoformat()
        quarantine_cutoff = (now - timedelta(days=config.retention_days_quarantine)).isoformat()
        removed = await self.store.call(lambda s: expire_quarantine(s, quarantine_cutoff))
        await self.store.call(lambda s: s.retention.delete_records_before(records_cutoff))
        await self.store.call(lambda s: s.retention.delete_send_events_before((now - SEND_EVENTS_KEPT).isoformat()))
        events_cutoff = (now - timedelta(days=config.retention_days_login_events)).isoformat()
        await self.store.call(lambda s: s.retention.delete_logins_before(events_cutoff, records_cutoff[:10]))
        log.info("retention: %d quarantined messages past %d days deleted", removed, config.retention_days_quarantine)


def expire_quarantine(store: Store, cutoff: str) -> int:
    """Delete quarantined messages kept since before ``cutoff`` (files, or bytes in the database); their
    index rows say 'deleted'."""
    removed = 0
    while batch := store.quarantine.kept_before(cutoff):
        for qid, path in batch:
            if path:
                Path(path).unlink(missing_ok=True)
            store.quarantine.set_status(qid, "deleted")
            removed += 1
    return removed
