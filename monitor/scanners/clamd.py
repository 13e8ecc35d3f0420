"""An asyncio client for clamd's INSTREAM (the ``virus`` rule's evidence).

Why our own client (docs/libraries.md, "clamd client"): the PyPI clients (clamd, pyclamd) block, send 1–4 KiB chunks,
have no connect timeout, leak sockets on refusal and lose clamd's size-limit reply. This one:

* speaks ``zINSTREAM\\0`` then ``<uint32 length><bytes>``… ``<uint32 0>``, in 256 KiB chunks with
  ``drain()`` back-pressure, over TCP (``"host:port"``, ``"[::1]:3310"``) or a unix socket (a path);
* opens one connection per scan (clamd is made for that; a scan costs ~0.4 ms on loopback), and at
  most ``max_concurrent`` at once so a burst of messages queues here, not in clamd's accept queue;
* has a timeout on connect and one on the whole scan (queueing included);
* checks the size first: clamd resets the connection when a stream passes its StreamMaxLength,
  so its "INSTREAM size limit exceeded" reply is lost to the RST. ``stream_max`` must therefore
  equal clamd's StreamMaxLength; a larger message is "unscanned" — a finding, never a pass.

What a message is sent as (each attachment decoded, the rest raw) is monitor/scanners/antivirus.py's
business; clamd still unpacks archives itself (ScanArchive) and parses a message given raw.

Results are typed: ``AntivirusResult`` clean / infected (with the signature) / unscanned (with
the reason); anything that leaves no verdict — refused, reset, timed out, a reply we do not
understand — raises ``ClamdUnavailable`` and the caller decides (the filter fails closed, 451).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import struct
from collections.abc import AsyncIterator
from typing import IO

from rules.facts import AntivirusResult

CHUNK = 256 * 1024
# clamd's default MaxThreads; more parallel streams would only wait in clamd's queue (and count
# against its MaxConnectionQueueLength) instead of here, under our own timeout.
MAX_CONCURRENT = 10
CONNECT_TIMEOUT = 5.0
BIG = 2**20

_FOUND = re.compile(r"^stream: (?P<signature>\S.*) FOUND$")


class ClamdUnavailable(Exception):
    """clamd gave no verdict: connection refused or reset, a timeout, or a reply we cannot read."""


def mib(size: int) -> str:
    """``26214400`` → ``"25 MiB"``, ``1572864`` → ``"1.5 MiB"`` (for people reading a finding)."""
    return f"{size / 2**20:.1f}".removesuffix(".0") + " MiB"


def parse_reply(raw: bytes) -> AntivirusResult:
    """clamd's answer to INSTREAM: ``stream: OK`` | ``stream: <signature> FOUND`` | ``<text> ERROR``."""
    reply = raw.rstrip(b"\0").decode("utf-8", "replace").strip()
    if reply == "stream: OK":
        return AntivirusResult("clean")
    found = _FOUND.match(reply)
    if found:
        return AntivirusResult("infected", signature=found["signature"])
    if reply.endswith("ERROR") and "size limit" in reply.lower():
        # Only reachable if clamd answers before resetting; the size pre-check normally wins.
        return AntivirusResult("unscanned", detail=f"clamd: {reply}")
    # Any other ERROR (out of memory, a temporary file it could not write) is clamd's trouble,
    # not the message's: no verdict, so the caller retries later.
    raise ClamdUnavailable(f"clamd answered {reply[:200]!r}")


class ClamdClient:
    """One clamd, as configured in ``[clamav]``; cheap to create, safe to share on one event loop."""

    def __init__(
        self,
        address: str,
        *,
        timeout: float,
        stream_max: int,
        connect_timeout: float = CONNECT_TIMEOUT,
        max_concurrent: int = MAX_CONCURRENT,
        max_big: int = MAX_CONCURRENT,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.stream_max = stream_max
        self.connect_timeout = min(connect_timeout, timeout)
        self._slots = asyncio.Semaphore(max_concurrent)
        # Streams of BIG bytes or more also take one of these: the heavy scans can be kept to fewer
        # at once than the light ones, which then never queue behind them.
        self._big_slots = asyncio.Semaphore(max_big)

    def oversize(self, size: int, attachment: str = "") -> AntivirusResult:
        """Unscanned: the message (or one of its attachments) is longer than clamd accepts."""
        vi, en = (f"tệp {attachment}", f"attachment {attachment}") if attachment else ("thư", "message")
        return AntivirusResult(
            "unscanned",
            detail=(
                f"{vi} {mib(size)} vượt giới hạn quét của clamd ({mib(self.stream_max)}) / "
                f"{en} over clamd StreamMaxLength ({mib(self.stream_max)})"
            ),
        )

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.connect_timeout):
            if self.address.startswith("/"):
                return await asyncio.open_unix_connection(self.address)
            host, _, port = self.address.rpartition(":")
            return await asyncio.open_connection(host.strip("[]"), int(port))

    async def ping(self) -> bool:
        """True when clamd answers ``zPING`` with ``PONG`` within the connect timeout (health checks)."""
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await self._connect()
                try:
                    writer.write(b"zPING\0")
                    await writer.drain()
                    return await reader.readuntil(b"\0") == b"PONG\0"
                finally:
                    writer.close()
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False

    async def scan_bytes(self, data: bytes) -> AntivirusResult:
        return await self.scan(io.BytesIO(data), len(data))

    async def scan(self, body: IO[bytes], size: int) -> AntivirusResult:
        """Stream ``body`` (``size`` bytes, read from its current position) to clamd.

        Returns clean / infected / unscanned (over ``stream_max``); raises ``ClamdUnavailable``.
        """
        if size > self.stream_max:
            return self.oversize(size)
        return await self.scan_stream(file_blocks(body), size)

    async def scan_stream(self, blocks: AsyncIterator[bytes], size: int = 0) -> AntivirusResult:
        """Send the bytes ``blocks`` yields (about ``size``) as one INSTREAM; past ``stream_max``: unscanned."""
        sent = 0
        big = self._big_slots if size >= BIG else contextlib.nullcontext()
        try:
            async with asyncio.timeout(self.timeout), big, self._slots:
                reader, writer = await self._connect()
                try:
                    writer.write(b"zINSTREAM\0")
                    async for block in blocks:
                        if not block:
                            continue  # an empty chunk would end the stream early
                        sent += len(block)
                        if sent > self.stream_max:
                            # Longer than clamd accepts: stop before clamd resets us.
                            return self.oversize(sent)
                        writer.write(struct.pack("!L", len(block)))
                        writer.write(block)
                        await writer.drain()
                    writer.write(b"\0\0\0\0")
                    await writer.drain()
                    raw = await reader.readuntil(b"\0")
                finally:
                    writer.close()
        except TimeoutError as exc:
            raise ClamdUnavailable(f"no verdict within {self.timeout:g} s ({self.address})") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            # clamd resets a stream that passes its StreamMaxLength; it also does so when stopping.
            raise ClamdUnavailable(
                f"connection reset by clamd ({self.address}) after {sent:,} bytes; if this repeats, "
                "[clamav] stream_max_bytes may be larger than clamd's StreamMaxLength"
            ) from exc
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise ClamdUnavailable(f"{self.address}: {type(exc).__name__}: {exc}") from exc
        return parse_reply(raw)


async def file_blocks(body: IO[bytes], size: int | None = None) -> AsyncIterator[bytes]:
    """``body`` from its position in CHUNK blocks: ``size`` bytes at most, or to its end."""
    left = size
    while left is None or left > 0:
        block = await _read(body, CHUNK if left is None else min(CHUNK, left))
        if not block:
            return
        if left is not None:
            left -= len(block)
        yield block


async def _read(body: IO[bytes], n: int) -> bytes:
    # An in-memory body is read in place; a file goes through a thread so that a slow disk never
    # stalls the event loop that serves every other SMTP session.
    if isinstance(body, io.BytesIO):
        return body.read(n)
    return await asyncio.get_running_loop().run_in_executor(None, body.read, n)
