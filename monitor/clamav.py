"""clamd's INSTREAM protocol, asyncio (DEPS.md §6: the PyPI clients block, leak sockets and lose
the size-limit reply). A connection per scan; chunks of 256 KiB with back-pressure.

clamd decodes MIME and archives itself (ScanMail, ScanArchive), so the raw message is streamed
once. A message larger than clamd's StreamMaxLength cannot be scanned: that is "unscanned", a
finding, never a pass — and it is decided before sending, because clamd's own "size limit
exceeded" reply is lost to the connection reset.
"""

from __future__ import annotations

import asyncio
import struct
from typing import IO

from rules.facts import AntivirusResult

CHUNK = 256 * 1024


class ClamdUnavailable(Exception):
    pass


async def _open(address: str, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if address.startswith("/"):
        return await asyncio.wait_for(asyncio.open_unix_connection(address), timeout)
    host, _, port = address.rpartition(":")
    return await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)


async def ping(address: str, timeout: float = 5.0) -> bool:
    try:
        reader, writer = await _open(address, timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"zPING\0")
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\0"), timeout) == b"PONG\0"
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()


async def scan(address: str, body: IO[bytes], size: int, *, timeout: float, stream_max: int) -> AntivirusResult:
    """Stream ``body`` (``size`` bytes) to clamd; raises ClamdUnavailable when clamd cannot answer."""
    if size > stream_max:
        return AntivirusResult(
            "unscanned",
            detail=f"thư {size:,} byte lớn hơn giới hạn quét của clamd {stream_max:,} / over StreamMaxLength",
        )

    async def run() -> bytes:
        reader, writer = await _open(address, timeout)
        try:
            writer.write(b"zINSTREAM\0")
            loop = asyncio.get_running_loop()
            while True:
                chunk = await loop.run_in_executor(None, body.read, CHUNK)
                if not chunk:
                    break
                writer.write(struct.pack("!L", len(chunk)) + chunk)
                await writer.drain()
            writer.write(struct.pack("!L", 0))
            await writer.drain()
            return await reader.readuntil(b"\0")
        finally:
            writer.close()

    try:
        reply = (await asyncio.wait_for(run(), timeout)).rstrip(b"\0").decode("utf-8", "replace")
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise ClamdUnavailable(f"{type(exc).__name__}: {exc}") from exc
    # "stream: OK" | "stream: <signature> FOUND" | "<message> ERROR"
    if reply.endswith("FOUND"):
        signature = reply.removeprefix("stream:").strip().removesuffix("FOUND").strip()
        return AntivirusResult("infected", signature=signature)
    if reply.endswith("OK"):
        return AntivirusResult("clean")
    if "size limit" in reply.lower():
        return AntivirusResult("unscanned", detail=f"clamd: {reply}")
    raise ClamdUnavailable(f"clamd answered {reply!r}")
