"""`mailmon run`: the composition root. One process runs the SMTP filter, the Dovecot log follower,
the scheduled jobs (monitor/service/jobs.py), the operators' console (monitor/web), and tells
systemd how it is doing.

The filter, the batch work and the console's pages each have a store connection on a thread of
their own, so a sweep, a digest, an ingest or the console's background evaluation never holds up
an SMTP answer, and a page never waits behind either.

Lifecycle: READY only once the filter answers; WATCHDOG pings from the event loop (a stalled loop
gets the service restarted); SIGTERM/SIGINT stop intake first, give messages being checked time to
finish, then flush and exit 0 (a second signal is harmless); SIGHUP validates the whole new config
and swaps it only if it is good.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CollectorRegistry

from exporters.metrics.http import MetricsServer, serve_metrics
from exporters.metrics.instruments import Metrics
from monitor.config import CREDENTIALS, Config, ConfigError, load_config, split_hostport
from monitor.mailboxes.calendar import calendar_for
from monitor.mailboxes.log_follower import follow
from monitor.service.jobs import Jobs
from monitor.service.sdnotify import notify, watchdog_interval
from monitor.smtp.connections import Connections
from monitor.smtp.handler import FilterHandler
from monitor.smtp.quarantine import Quarantine
from monitor.smtp.records import Recorder
from monitor.smtp.server import FilterSMTP
from monitor.store import AsyncStore, open_leadership
from monitor.store.files import private_dir, remove_spool_leftovers
from monitor.store.pending import RECORDS_JOURNAL, PendingWrites
from monitor.version import VERSION
from monitor.web.server import ConsoleServer
from monitor.web.summaries import COUNT_SECONDS

log = logging.getLogger("mailmon.daemon")

# How often a node asks for the jobs no node leads (a dead node's jobs move within this, plus the
# time the server takes to see the node's connection end: at once for a killed process).
TAKE_OVER_SECONDS = 10.0
# A daily job that moves to another node midway does not run twice that day.
ONCE_A_DAY = timedelta(hours=20)
# Led like a job: the node that leads it exports the mailbox states (exporters/metrics/instruments.py).
MAILBOX_METRICS = "mailbox_metrics"

WARMUP_MESSAGE = b"From: a@b.c\r\nSubject: warm-up\r\n\r\nx\r\n"


class Daemon:
    def __init__(self, config_path: Path, config: Config, *, jobs: bool = True) -> None:
        self.config_path = config_path
        self.config = config
        self.with_jobs = jobs  # False: `mailmon filter`, the filter alone
        # Worker processes inherit the environment and have no business with secrets: they are not
        # told where the credentials are. Reloads still expand ${CREDENTIALS_DIRECTORY} from here.
        self.environ = {CREDENTIALS: os.environ.pop(CREDENTIALS)} if CREDENTIALS in os.environ else {}
        self.stop = asyncio.Event()
        storage = config.storage
        timeout, password = storage.lock_timeout_seconds, storage.password()
        self.store = AsyncStore(storage.target(), name="filter-store", lock_timeout=timeout, password=password)
        self.batch_store = AsyncStore(storage.target(), name="batch-store", lock_timeout=timeout, password=password)
        self.pending: PendingWrites | None = None
        self.handler: FilterHandler | None = None
        self.server: asyncio.base_events.Server | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.connections = Connections(config.filter.max_connections)
        self.leadership = open_leadership(storage.target(), lock_timeout=timeout, password=password)
        self.led_jobs: list[str] = []
        self.exports_mailboxes = False  # this node leads MAILBOX_METRICS (its /metrics has the mailbox states)
        self.leading: asyncio.Task[None] | None = None
        self.follower: asyncio.Task[None] | None = None
        self.started_at = datetime.now(UTC)
        self.metrics_server: MetricsServer | None = None
        self.jobs: Jobs | None = None
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
        # Spool files and half-made quarantine copies left by a crash belong to messages never
        # acknowledged: Postfix still has them. Only mailmon's own files go: a spool_dir pointed at
        # the wrong directory loses nothing.
        remove_spool_leftovers(config.storage.spool_dir)
        Quarantine.of(config).remove_interrupted_copies()
        await self.store.open()
        await self.batch_store.open()
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, version=VERSION)
        tz = ZoneInfo(config.organization.timezone)
        self.metrics.add_store_collector(
            lambda: config.storage.open_store(migrate=False),
            config.account_profile(),
            calendar_for(config.calendar),
            tz,
            leads=lambda: self.exports_mailboxes,
        )
        self.metrics.watch_connections(lambda: len(self.connections))
        self.connections.on_refused = self.metrics.connection_refused
        self.jobs = Jobs(config, self.batch_store, self.metrics)
        # Records that wait for a locked database are kept on disk beside the spool; what an earlier
        # run left there (it died, or stopped with the database still locked) is written first.
        journal = config.storage.spool_dir / RECORDS_JOURNAL
        self.pending = PendingWrites(self.store, self.metrics.store_pending, journal=journal)
        if replayed := await self.pending.replay(Recorder.load):
            log.warning("%d records kept on disk by an earlier run are written to the store", replayed)
        self.handler = FilterHandler(config, self.store, events=self.metrics, pending=self.pending)
        await self.handler.workers.warm_up(self.handler.settings, WARMUP_MESSAGE)
        # Everything built so far lives as long as the daemon: out of the collector's sight, a full
        # collection no longer walks it in the middle of serving (tens of ms of event-loop stall).
        gc.freeze()
        host, port = split_hostport(config.filter.listen)
        self.server = await loop.create_server(self._protocol, host, port)
        if self.with_jobs:  # `mailmon run` serves metrics; `mailmon filter` is the filter alone
            mhost, mport = split_hostport(config.daemon.metrics_listen)
            self.metrics_server = await serve_metrics(self.registry, mhost, mport)
        await self._wait_answering(host, port)
        if self.with_jobs and config.web.enabled:  # the operators' console (monitor/web)
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
        if not self.with_jobs or self.jobs is None:
            return
        config = self.config
        jobs = self.jobs
        jobs.config = config
        tz = ZoneInfo(config.organization.timezone)
        scheduler = AsyncIOScheduler(
            timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        )
        if config.dovecot.master_password_file is not None:
            scheduler.add_job(
                self._led("sweep", jobs.sweep, timedelta(minutes=config.daemon.sweep_interval_minutes * 0.9)),
                "interval",
                minutes=config.daemon.sweep_interval_minutes,
                id="sweep",
                next_run_time=datetime.now(tz) + timedelta(seconds=30),
                replace_existing=True,
            )
        scheduler.add_job(
            self._led("retention", jobs.retention, ONCE_A_DAY),
            "cron",
            hour=2,
            minute=15,
            id="retention",
            replace_existing=True,
        )
        if config.alerts.enabled:
            scheduler.add_job(
                self._led("alerts", jobs.alerts),
                "interval",
                seconds=config.alerts.flush_interval_seconds,
                id="alerts",
                next_run_time=datetime.now(tz) + timedelta(seconds=2),
                replace_existing=True,
            )
            hour, minute = (int(x) for x in config.daemon.digest_time.split(":"))
            scheduler.add_job(
                self._led("digest", jobs.digest, ONCE_A_DAY),
                "cron",
                day_of_week="mon-sat",
                hour=hour,
                minute=minute,
                id="digest",
                replace_existing=True,
            )
        if config.web.enabled:  # what the console's pages read, kept up to date beside them
            scheduler.add_job(
                self._led("mailbox_view", jobs.mailbox_view),
                "interval",
                minutes=config.web.mailbox_refresh_minutes,
                id="mailbox_view",
                next_run_time=datetime.now(tz) + timedelta(seconds=5),
                replace_existing=True,
            )
            scheduler.add_job(
                self._led("finding_counts", jobs.finding_counts),
                "interval",
                seconds=COUNT_SECONDS,
                id="finding_counts",
                next_run_time=datetime.now(tz) + timedelta(seconds=1),
                replace_existing=True,
            )
        scheduler.start()
        self.scheduler = scheduler
        self.led_jobs = [job.id for job in scheduler.get_jobs()]
        if self.leading is None:
            self.leading = asyncio.create_task(self._take_over())
            self.tasks.append(self.leading)
        if config.daemon.log_source and self.follower is None:  # one follower, whatever reloads came
            self.follower = asyncio.create_task(
                follow(
                    self.batch_store,
                    config.daemon.log_source,
                    config.dovecot.master_user,
                    tz,
                    self.stop,
                    on_health=lambda ok: self.metrics.dependency_up("log_follower", ok),
                    claim=self._claim_log,
                    let_go=lambda key: asyncio.to_thread(self.leadership.let_go, key),
                )
            )
            self.tasks.append(self.follower)

    def _led(
        self, name: str, job: Callable[[], Awaitable[None]], every: timedelta | None = None
    ) -> Callable[[], Awaitable[None]]:
        """``job`` as run by the node that leads it (monitor/store/leadership.py), and, with ``every``,
        only when that long has passed since it last started on any node."""

        async def run() -> None:
            if not await asyncio.to_thread(self.leadership.hold, name):
                return
            if every is not None:
                now = datetime.now(UTC)
                if not await self.batch_store.call(lambda s: s.job_runs.start_if_due(name, now, every)):
                    return
            await job()

        return run

    async def _claim_log(self, key: str) -> bool:
        """The log follower's turn: this node follows the log if it leads it (``log_follower`` in
        ``mailmon_job_leader``)."""
        leads = await asyncio.to_thread(self.leadership.hold, key)
        self.metrics.job_leader("log_follower", leads)
        return leads

    async def _take_over(self) -> None:
        """Ask for every job no node leads, every few seconds: a dead node's jobs move within a minute."""
        while not self.stop.is_set():
            for name in [*self.led_jobs, MAILBOX_METRICS]:
                leads = await asyncio.to_thread(self.leadership.hold, name)
                self.metrics.job_leader(name, leads)
                if name == MAILBOX_METRICS:
                    self.exports_mailboxes = leads
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), TAKE_OVER_SECONDS)

    async def _watchdog(self, interval: float) -> None:
        while not self.stop.is_set():
            notify("WATCHDOG=1", f"STATUS={self.status()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), interval)

    def status(self) -> str:
        in_flight = self.handler.in_flight if self.handler else 0
        last_sweep = self.jobs.last_sweep if self.jobs else "-"
        return f"Đang lọc / filtering; {in_flight} thư đang kiểm tra / in flight; quét cuối / last sweep {last_sweep}"

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
        if self.pending is not None:
            await self.pending.close()
        await asyncio.to_thread(self.leadership.close)  # this node's jobs are free for another at once
        await self.store.close()
        await self.batch_store.close()
        log.info("mailmon stopped")


def run_daemon(config_path: Path, config: Config, *, jobs: bool = True) -> int:
    return asyncio.run(Daemon(config_path, config, jobs=jobs).run())
