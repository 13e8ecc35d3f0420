"""Run the SMTP filter in an event loop until asked to stop; stop intake first, then drain."""

from __future__ import annotations

import asyncio
import logging
import signal

from monitor.config import Config, split_hostport
from monitor.pipeline import evaluate
from monitor.smtp_filter import FilterHandler
from monitor.smtpio import FilterSMTP
from monitor.store import AsyncStore

log = logging.getLogger("mailmon.filter")

WARMUP_MESSAGE = b"From: a@b.c\r\nSubject: warm-up\r\n\r\nx\r\n"


async def serve_filter(config: Config, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Listen on [filter] listen until ``stop`` is set; in-flight messages get time to finish."""
    config.storage.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.storage.quarantine_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = AsyncStore(config.storage.database)
    await store.open()
    handler = FilterHandler(config, store)
    loop = asyncio.get_running_loop()
    # Start the worker processes now, so the first message does not pay for their start-up.
    warm = [
        loop.run_in_executor(handler.pool, evaluate, WARMUP_MESSAGE, "", (), handler.settings)
        for _ in range(config.filter.workers)
    ]
    await asyncio.gather(*warm)
    host, port = split_hostport(config.filter.listen)
    server = await loop.create_server(
        lambda: FilterSMTP(
            handler,
            spool_dir=config.storage.spool_dir,
            spool_memory_limit=config.filter.spool_memory_bytes,
            data_size_limit=config.filter.max_message_bytes,
            hostname=config.filter.hostname,
            ident="mailmon",
            enable_SMTPUTF8=True,
        ),
        host,
        port,
    )
    log.info(
        "filter listening on %s:%d (%s), re-injecting to %s",
        host,
        port,
        config.filter.mode,
        config.filter.reinject,
    )
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        server.close()  # stop accepting first
        deadline = loop.time() + config.filter.scan_timeout_seconds + config.filter.reinject_timeout_seconds
        while handler.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        handler.close()
        await store.close()
        log.info("filter stopped")


def run_filter_forever(config: Config) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_filter(config, stop)

    asyncio.run(main())
    return 0
