"""The console served inside `mailmon run`'s event loop by uvicorn, on ``[web] listen``.

The daemon owns the signals (SIGTERM drains the filter first), so uvicorn is kept from installing
its own. The listening socket is bound here, before uvicorn starts: a port already taken is
reported as an error and mail filtering goes on without the console — the console is not in mail's
path. The console reads and writes through a store connection and thread of its own, so a page
never waits behind the filter's writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn

from monitor.config import Config, split_hostport
from monitor.smtp.quarantine import Quarantine
from monitor.store import AsyncStore
from monitor.web.app import build_app
from monitor.web.state import Health, WebState

log = logging.getLogger("mailmon.web")


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose protocol is named, so that asyncio turns Nagle's algorithm off on the
    connections it accepts (a response written in two parts would otherwise wait for a delayed ACK)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon's handlers stay in place


class ConsoleServer:
    def __init__(self, config: Callable[[], Config], config_path: Path, health: Health) -> None:
        self.config, self.config_path, self.health = config, config_path, health
        storage = config().storage
        self.store = AsyncStore(
            storage.target(),
            name="console-store",
            lock_timeout=storage.lock_timeout_seconds,
            password=storage.password(),
        )
        self.server: _Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.address = ""

    async def start(self) -> bool:
        """Bind and start serving; False (logged) when the address cannot be bound."""
        config = self.config()
        host, port = split_hostport(config.web.listen)
        try:
            sock = _listen(host, port)
        except OSError as exc:
            log.error(
                "console: cannot listen on %s (%s); filtering goes on without the console", config.web.listen, exc
            )
            return False
        sock.setblocking(False)
        await self.store.open()
        state = WebState(self.config, self.config_path, self.store, Quarantine.of(config), self.health)
        settings = uvicorn.Config(
            build_app(state),
            lifespan="off",
            proxy_headers=True,
            forwarded_allow_ips=list(config.web.trusted_proxies),
            server_header=False,
            access_log=False,
            log_level="warning",
            timeout_keep_alive=5,
            limit_concurrency=200,
            h11_max_incomplete_event_size=16 * 1024,
        )
        self.server = _Server(settings)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        for _ in range(200):
            if self.server.started or self.task.done():
                break
            await asyncio.sleep(0.01)
        self.address = f"http://{config.web.listen}/"
        log.info("console on %s", self.address)
        return True

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 10)
        await self.store.close()
