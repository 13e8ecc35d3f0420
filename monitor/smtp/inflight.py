"""A byte budget for messages being parsed at once: bounds the filter's memory under big mail.

A worker holds the message, its decoded attachments and what a document parser makes of them:
about three times the message's size at the peak. Two 34 MB messages parsed side by side cost
some 200 MB more than one after the other, for a throughput gain of nothing on two cores. So a
message waits while the bytes in parse would pass the budget; one message alone always goes,
whatever its size, and mail under 1 MiB (most of it) is not counted: it never waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

SMALL = 2**20


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.limit

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        if size < SMALL:
            yield
            return
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(size))
            self.used += size
        try:
            yield
        finally:
            async with self._changed:
                self.used -= size
                self._changed.notify_all()
