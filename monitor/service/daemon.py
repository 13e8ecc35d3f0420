"""`mailmon run`: the composition root. One process runs the SMTP filter, the Dovecot log follower,
the scheduled jobs (sweeps, retention), and tells systemd how it is doing.

Lifecycle (STYLE.md G11, G12): READY only once the filter answers; WATCHDOG pings from the event
loop (a stalled loop gets the service restarted); SIGTERM/SIGINT stop intake first, give messages
being checked time to finish, then flush and exit 0 (a second signal is harmless); SIGHUP
validates the whole new config and swaps it only if it is good.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from exporters.metrics.http import MetricsServer, serve_metrics
from exporters.metrics.instruments import Metrics
from exporters.notify import outbox
from exporters.notify.alerts import daily_digest, enqueue_new_findings
from exporters.notify.outbox import OutboxSender
from exporters.reports.report import enqueue_reminders
from monitor.config import CREDENTIALS, Config, ConfigError, load_config, split_hostport
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.log_follower import follow
from monitor.service.sdnotify import notify, watchdog_interval
from monitor.smtp.connections import Connections
from monitor.smtp.handler import FilterHandler
from monitor.smtp.server import FilterSMTP
from monitor.store import AsyncStore, Store
from monitor.store.files import is_spool_leftover, private_dir
from monitor.web.server import ConsoleServer
from monitor.web.summaries import COUNT_SECONDS, count_findings
from monitor.web.summaries import refresh as refresh_mailbox_view

log = logging.getLogger("mailmon.daemon")

VERSION = "0.1.0"
WARMUP_MESSAGE = b"From: a@b.c\r\nSubject: warm-up\r\n\r\nx\r\n"


class Daemon:
    def __init__(self, config_path: Path, config: Config, *, jobs: bool = True) -> None:
        self.config_path = config_path
        self.config = config
        # Worker processes inherit the environment and have no business with secrets: they are not
        # told where the credentials are. Reloads still expand ${CREDENTIALS_DIRECTORY} from here.
        self.environ = {CREDENTIALS: os.environ.pop(CREDENTIALS)} if CREDENTIALS in os.environ else {}
        self.jobs = jobs  # False: `mailmon filter`, the filter alone
        self.stop = asyncio.Event()
        self.store = AsyncStore(config.storage.database)
        self.handler: FilterHandler | None = None
        self.server: asyncio.base_events.Server | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.connections = Connections(config.filter.max_connections)
        self.started_at = datetime.now(UTC)
        self.metrics_server: MetricsServer | None = None
        self.last_sweep: str = "chưa / not yet"
        self.console: ConsoleServer | None = None

    # -- start ----------------------------------------------------------------------------
    async def run(self) -> int:
        config = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        private_dir(config.storage.spool_dir)
        private_dir(config.storage.quarantine_dir)
        # Spool files left by a crash belong to messages never acknowledged: Postfix still has them.
        # Only the spool's own files go: a spool_dir pointed at the wrong directory loses nothing.
        for stale in config.storage.spool_dir.iterdir():
            if is_spool_leftover(stale):
                stale.unlink()
        await self.store.open()
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, version=VERSION)
        self.calendar = Calendar()
        tz = ZoneInfo(config.organization.timezone)
        self.metrics.add_store_collector(config.storage.database, config.account_profile(), self.calendar, tz)
        await self.store.call(outbox.ensure_schema)
        self.handler = FilterHandler(config, self.store, events=self.metrics)
        await self.handler.workers.warm_up(self.handler.settings, WARMUP_MESSAGE)
        # Everything built so far lives as long as the daemon: out of the collector's sight, a full
        # collection no longer walks it in the middle of serving (tens of ms of event-loop stall).
        gc.freeze()
        host, port = split_hostport(config.filter.listen)
        self.server = await loop.create_server(self._protocol, host, port)
        if self.jobs:  # `mailmon run` serves metrics; `mailmon filter` is the filter alone
            mhost, mport = split_hostport(config.daemon.metrics_listen)
            self.metrics_server = await serve_metrics(self.registry, mhost, mport)
        await self._wait_answering(host, port)
        if self.jobs and config.web.enabled:  # the operators' console (monitor/web)
            self.console = ConsoleServer(lambda: self.config, self.config_path, self.health)
            if not await self.console.start():
                self.console = None
        self._start_jobs()
        notify("READY=1", f"STATUS={self.status()}", f"MAINPID={os.getpid()}")
        log.info("mailmon running: filter on %s:%d, re-injection to %s", host, port, config.filter.reinject)
        interval = watchdog_interval()
        if interval:
            self.tasks.append(asyncio.create_task(self._watchdog(interval)))
        await self.stop.wait()
        await self.shutdown()
        return 0

    def _protocol(self) -> FilterSMTP:
        assert self.handler is not None
        config = self.config
        section = config.filter
        return FilterSMTP(
            self.handler,
            spool_dir=config.storage.spool_dir,
            spool_memory_limit=section.spool_memory_bytes,
            data_size_limit=section.max_message_bytes,
            hostname=section.hostname,
            ident="mailmon",
            enable_SMTPUTF8=True,
            xforward_clients=section.xforward_clients,
            connections=self.connections,
            timeout=section.command_timeout_seconds,
            data_timeout=section.data_timeout_seconds,
            spool_min_free_bytes=section.spool_min_free_bytes,
        )

    async def _wait_answering(self, host: str, port: int) -> None:
        """READY means answering: open a connection and read the 220 greeting."""
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection(host, port)
                greeting = await asyncio.wait_for(reader.readline(), 5)
                writer.write(b"QUIT\r\n")
                await writer.drain()
                writer.close()
                if greeting.startswith(b"220"):
                    return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError(f"the filter does not answer on {host}:{port}")

    def _start_jobs(self) -> None:
        if not self.jobs:
            return
        config = self.config
        tz = ZoneInfo(config.organization.timezone)
        scheduler = AsyncIOScheduler(
            timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        )
        if config.dovecot.master_password_file is not None:
            scheduler.add_job(
                self._sweep,
                "interval",
                minutes=config.daemon.sweep_interval_minutes,
                id="sweep",
                next_run_time=datetime.now(tz) + timedelta(seconds=30),
                replace_existing=True,
            )
        scheduler.add_job(self._retention, "cron", hour=2, minute=15, id="retention", replace_existing=True)
        if config.alerts.enabled:
            scheduler.add_job(
                self._alerts,
                "interval",
                seconds=config.alerts.flush_interval_seconds,
                id="alerts",
                next_run_time=datetime.now(tz) + timedelta(seconds=2),
                replace_existing=True,
            )
            hour, minute = (int(x) for x in config.daemon.digest_time.split(":"))
            scheduler.add_job(
                self._digest,
                "cron",
                day_of_week="mon-sat",
                hour=hour,
                minute=minute,
                id="digest",
                replace_existing=True,
            )
        if config.web.enabled:
            scheduler.add_job(
                self._mailbox_view,
                "interval",
                minutes=config.web.mailbox_refresh_minutes,
                id="mailbox_view",
                next_run_time=datetime.now(tz) + timedelta(seconds=5),
                replace_existing=True,
            )
            scheduler.add_job(
                self._finding_counts,
                "interval",
                seconds=COUNT_SECONDS,
                id="finding_counts",
                next_run_time=datetime.now(tz) + timedelta(seconds=1),
                replace_existing=True,
            )
        scheduler.start()
        self.scheduler = scheduler
        if config.daemon.log_source:
            self.tasks.append(
                asyncio.create_task(
                    follow(self.store, config.daemon.log_source, config.dovecot.master_user, tz, self.stop)
                )
            )

    # -- jobs -----------------------------------------------------------------------------
    async def _sweep(self) -> None:
        from monitor.mailboxes.sweep import sweep

        config = self.config
        try:
            report = await self.store.call(lambda store: sweep(config, store))
        except Exception:
            log.exception("sweep failed")
            self.metrics.sweep_finished(0.0, ok=False)
            self.metrics.dependency_error("imap")
            return
        self.metrics.sweep_finished(report.seconds, ok=report.errors < report.boxes or report.boxes == 0)
        self.metrics.dependency_up("imap", report.errors < report.boxes or report.boxes == 0)
        self.last_sweep = datetime.now(UTC).isoformat(timespec="seconds")
        log.info("sweep: %d mailboxes in %.1fs, %d errors", report.boxes, report.seconds, report.errors)

    async def _mailbox_view(self) -> None:
        """The console's mailboxes page: every mailbox evaluated anew, on a connection of its own."""
        config = self.config
        try:
            n = await asyncio.to_thread(
                refresh_mailbox_view,
                config.storage.database,
                config.account_profile(),
                self.calendar,
                ZoneInfo(config.organization.timezone),
            )
            log.debug("console: %d mailboxes evaluated", n)
        except Exception:
            log.exception("console: mailbox evaluation failed (the page shows the previous one)")

    async def _finding_counts(self) -> None:
        """The console's overview: findings counted by day, unit and rule as they arrive."""
        try:
            tz = ZoneInfo(self.config.organization.timezone)
            await asyncio.to_thread(count_findings, self.config.storage.database, tz)
        except Exception:
            log.exception("console: counting findings failed (the next pass goes on from the same place)")

    def health(self) -> dict[str, bool | None]:
        """What the console's overview shows: each dependency's last call (None: not called yet)."""
        config = self.config
        expected = ["reinject"]
        expected += ["clamd"] if config.clamav.enabled else []
        expected += ["rspamd"] if config.rspamd.url else []
        expected += ["imap"] if config.dovecot.master_password_file is not None else []
        found: dict[str, bool | None] = dict.fromkeys(expected)
        for metric in self.metrics.dependency_up_gauge.collect():
            for sample in metric.samples:
                found[sample.labels["dependency"]] = sample.value == 1
        return found

    async def _alerts(self) -> None:
        """Urgent findings recorded since the last run go to the units' IT contacts; then send the outbox."""
        config = self.config
        now = datetime.now(ZoneInfo(config.organization.timezone))
        fallback = config.alerts.fallback_to
        try:
            profile = config.account_profile()
            await self.store.call(lambda s: enqueue_new_findings(s, now, self.calendar, profile, fallback))
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

    async def _digest(self) -> None:
        config = self.config
        now = datetime.now(ZoneInfo(config.organization.timezone))
        profile = config.account_profile()
        fallback = config.alerts.fallback_to
        try:
            await self.store.call(lambda s: daily_digest(s, now, self.calendar, profile, fallback))
            await self.store.call(lambda s: enqueue_reminders(s, now, self.calendar, profile, fallback))
        except Exception:
            log.exception("digest job failed")

    async def _retention(self) -> None:
        config = self.config

        def clean(store: Store) -> int:
            cutoff = (datetime.now(UTC) - timedelta(days=config.daemon.retention_days_findings)).isoformat()
            qcutoff = (datetime.now(UTC) - timedelta(days=config.daemon.retention_days_quarantine)).isoformat()
            removed = 0
            for row in store.db.table("quarantine").rows_where("time < ? and status != 'deleted'", [qcutoff]):
                Path(row["path"]).unlink(missing_ok=True)
                store.set_quarantine_status(row["id"], "deleted")
                removed += 1
            windows = (datetime.now(UTC) - timedelta(days=2)).isoformat()
            with store.db.atomic():
                store.db.execute("delete from findings where time < ?", [cutoff])
                store.db.execute("delete from messages where time < ?", [cutoff])
                # The sending windows look back one day at most.
                store.db.execute("delete from send_events where time < ?", [windows])
            return removed

        removed = await self.store.call(clean)
        log.info(
            "retention: %d quarantined messages past %d days deleted", removed, config.daemon.retention_days_quarantine
        )

    async def _watchdog(self, interval: float) -> None:
        while not self.stop.is_set():
            notify("WATCHDOG=1", f"STATUS={self.status()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), interval)

    def status(self) -> str:
        in_flight = self.handler.in_flight if self.handler else 0
        return (
            f"Đang lọc / filtering; {in_flight} thư đang kiểm tra / in flight; quét cuối / last sweep {self.last_sweep}"
        )

    # -- reload and stop ------------------------------------------------------------------
    async def reload(self) -> None:
        """SIGHUP: validate the whole file; keep running on the old config if anything is wrong."""
        try:
            new = load_config(self.config_path, self.environ)
        except ConfigError as exc:
            for error in exc.errors:
                log.error("reload refused: %s: %s", exc.path, error)
            notify(f"STATUS=Cấu hình mới bị từ chối / new config refused ({len(exc.errors)} errors)")
            return
        if new.filter.listen != self.config.filter.listen or new.storage != self.config.storage:
            log.warning("reload: [filter] listen and [storage] changes take effect at the next restart")
        assert self.handler is not None
        self.handler.reconfigure(new)
        self.config = new
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self._start_jobs()
        log.info("reload: new configuration in effect (profile %s)", new.profile.name)
        notify("RELOADING=0", f"STATUS={self.status()}")

    def _request_stop(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            log.info("%s again: already stopping", sig.name)
            return
        log.info("%s: stopping (new connections refused, in-flight messages finish)", sig.name)
        # At once, in the signal's own callback: not one more transaction starts from here on.
        if self.server is not None:
            self.server.close()
        self.connections.stop()
        notify("STOPPING=1")
        self.stop.set()

    async def shutdown(self) -> None:
        if self.server is not None:
            self.server.close()  # stop intake first
        # No new transaction: idle connections hear 421 now, busy ones after their message.
        self.connections.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.console is not None:
            await self.console.stop()
        handler = self.handler
        if handler is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.config.daemon.drain_timeout_seconds
            await self.connections.wait_closed(self.config.daemon.drain_timeout_seconds)
            while handler.in_flight and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if handler.in_flight:
                handler.abort_in_flight()
                while handler.in_flight and loop.time() < deadline + 5:
                    await asyncio.sleep(0.05)
        self.connections.close_all()
        if self.metrics_server is not None:
            await self.metrics_server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if handler is not None:
            handler.close()
        await self.store.close()
        log.info("mailmon stopped")


def run_daemon(config_path: Path, config: Config, *, jobs: bool = True) -> int:
    return asyncio.run(Daemon(config_path, config, jobs=jobs).run())
