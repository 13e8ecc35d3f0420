"""The filter's open connections: a cap on how many, and the way they are told to go at shutdown.

Postfix opens at most ``maxproc`` connections to the filter for the content_filter transport
(10 in the README's master.cf, plus the before-queue smtpd's maxproc). Anything beyond that is
not Postfix, or a Postfix misconfigured: past ``limit`` a new connection is greeted with 421 and
closed, so a flood of idle sockets cannot take the filter's file descriptors and memory.

At shutdown no new transaction may start: a connection with no transaction in progress is told
``421`` at once and closed; one in the middle of a transaction finishes it and then hears 421.
Postfix keeps what it did not hand over and sends it when the filter is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

R421_BUSY = "421 4.7.0 Quá nhiều kết nối, thử lại sau / Too many connections, try again later"
R421_STOPPING = "421 4.3.2 Bộ lọc đang dừng, thử lại sau / The filter is stopping, try again later"
R421_TIMEOUT = "421 4.4.2 Hết thời gian chờ / Timeout exceeded, closing"


class Connection(Protocol):
    """What the registry needs of a connection (``FilterSMTP``)."""

    def in_transaction(self) -> bool:
        """True from MAIL until the reply to DATA (or RSET) has been sent."""

    def goodbye(self, reply: str) -> None:
        """Send ``reply`` (a 421) and close, now."""


class Connections:
    """Every open connection of one listener; ``limit`` of them at most."""

    def __init__(self, limit: int, on_refused: Callable[[], None] = lambda: None) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.on_refused = on_refused  # told of each connection turned away at the cap (a metric)
        self.stopping = False
        self._open: set[Connection] = set()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, conn: Connection) -> bool:
        """Register a new connection; False when it must be turned away (cap reached, or stopping)."""
        if self.stopping or len(self._open) >= self.limit:
            if not self.stopping:
                self.on_refused()
            return False
        self._open.add(conn)
        return True

    def discard(self, conn: Connection) -> None:
        self._open.discard(conn)
        self._changed.set()

    def stop(self) -> None:
        """No new transaction from now on: connections between transactions are closed with 421."""
        self.stopping = True
        for conn in list(self._open):
            if not conn.in_transaction():
                conn.goodbye(R421_STOPPING)

    def close_all(self) -> None:
        """The end of the drain time: whatever is still open is closed (Postfix keeps its mail)."""
        for conn in list(self._open):
            conn.goodbye(R421_STOPPING)

    async def wait_closed(self, timeout: float) -> bool:
        """Wait until every connection is gone, at most ``timeout`` seconds; True if they are."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._open:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return not self._open
        return True
