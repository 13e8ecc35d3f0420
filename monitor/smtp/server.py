"""aiosmtpd's SMTP server with a block-wise DATA reader that spools to disk, plus XFORWARD.

Stock aiosmtpd 1.4.6 reads DATA one line at a time (``readuntil`` per line), keeps every line as a
``bytearray`` and joins them at the end: a 41 MB message costs ~180 MB of RSS and one Python
iteration per line (docs/libraries.md, "SMTP server"). ``FilterSMTP.smtp_DATA`` reads the socket in
256 KiB blocks, finds the end-of-data line and removes dot-stuffing with
``bytes.find``/``bytes.replace`` on whole blocks (``DataDecoder``), and streams the result into a
``Spool`` (memory up to a limit, then a 0600 file). The handler's ``handle_DATA`` receives a
``SpoolEnvelope`` whose ``spool`` holds the content; ``envelope.content`` and
``envelope.original_content`` stay ``None``.

Deliberate differences from stock ``smtp_DATA``:

* no 1000-octet line length check: rejecting at DATA would make Postfix bounce mail it already
  accepted; memory is bounded by the spool anyway;
* the size limit counts the un-stuffed content, and the 552 reply carries an enhanced status code;
* a spool that cannot be written (disk full) gives ``451 4.3.0`` after the end of data;
* the idle timeout is re-armed for every block, so a big message on a slow link is not cut at
  ``timeout`` seconds after the DATA command;
* after the DATA hook the transaction is reset even if the hook raised (stock keeps the stale
  envelope, so the next MAIL would get "503 nested MAIL command");
* the deprecated ``process_message`` handler API and ``decode_data=True`` are not supported.

This reaches into private parts of aiosmtpd's ``SMTP`` (``_handle_hooks``, ``_set_post_data_state``,
the stream reader's buffer), hence the exact pin ``aiosmtpd==1.4.6``. The opt-in streaming hook
proposed upstream (aio-libs/aiosmtpd#543, "chunked data reading") would make this override
unnecessary once released.

XFORWARD (https://www.postfix.org/XFORWARD_README.html) lets Postfix pass the original client and
its queue id through the filter. Like Postfix's own ``smtpd_authorized_xforward_hosts``, only peers
in ``xforward_clients`` ([filter] xforward_clients, loopback by default) see it in EHLO and may use
it; anyone else gets ``550 5.7.0`` and the transaction keeps the real peer, so nothing that merely
reaches the port can put another client's address or queue id into the logs and reports.

Bounded by construction (monitor/smtp/connections.py): at most ``Connections.limit`` connections;
``timeout`` seconds idle waiting for a command and ``data_timeout`` seconds idle between two reads
of DATA, then ``421 4.4.2`` and close (the time the handler spends on a message is bounded by its
own scan and re-injection timeouts, so the idle timer is off meanwhile); below
``spool_min_free_bytes`` of free space in the spool's file system MAIL gets ``452 4.3.1`` and
Postfix keeps the message instead of many big retries filling the disk together.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from monitor.smtp.connections import R421_BUSY, R421_STOPPING, R421_TIMEOUT, Connections
from monitor.smtp.replies import ascii_vietnamese
from monitor.smtp.spool import DEFAULT_MEMORY_LIMIT, Spool, free_bytes

log = logging.getLogger("mailmon.smtp")

READ_BLOCK = 256 * 1024
"""Bytes asked of the stream reader per read during DATA.

A read returns what the socket delivered so far: the reader's limit stays the stock 1001-byte
command limit, so the transport pauses once ~2 KB are buffered. Raising that limit for the
duration of DATA was measured with bench/smtp_data.py and gained nothing, so it is left alone.
"""

_EOD = b"\r\n.\r\n"

XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PROTO", "HELO", "SOURCE", "PORT", "IDENT")
_XFORWARD_EHLO = "250-XFORWARD " + " ".join(XFORWARD_ATTRIBUTES)
_XFORWARD_UNAVAILABLE = frozenset({"[UNAVAILABLE]", "[TEMPUNAVAIL]"})
_XTEXT_HEX = re.compile(rb"\+([0-9A-Fa-f]{2})")
_SIZE_PARAM = re.compile(r"\bSIZE=(\d{1,20})\b", re.IGNORECASE)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
R452_STORAGE = "452 4.3.1 Không đủ chỗ lưu thư, thử lại sau / Insufficient system storage, try again later"
R550_XFORWARD = "550 5.7.0 Error: insufficient authorization"


def peer_in(peer: Any, networks: Iterable[IPNetwork]) -> bool:
    """Whether a socket peer (``(host, port, ...)``) has an address in one of ``networks``."""
    try:
        address = ipaddress.ip_address(peer[0])
    except (TypeError, ValueError, IndexError):
        return False  # a Unix socket or something unexpected: not a configured peer
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


class _Stored(enum.Enum):
    OK = enum.auto()
    TOO_MUCH = enum.auto()
    FAILED = enum.auto()


class DataDecoder:
    """Incremental decoder of the DATA byte stream (RFC 5321 §4.5.2), fed block by block.

    The stream is treated as if preceded by CRLF (DATA's own line ended with one), so the
    end-of-data line is ``CRLF . CRLF`` anywhere, including at the very start (an empty message
    is just ``.CRLF``), and un-stuffing is ``replace(CRLF ".", CRLF)``. Neither pattern can
    overlap itself, so applying both to whole blocks is exact as long as the two bytes before a
    block are visible (``_ctx``) and the last two bytes of a block, which might begin a pattern
    that continues in the next block, are held back (``_pending``).
    """

    __slots__ = ("_ctx", "_pending", "done", "leftover")

    def __init__(self) -> None:
        self._ctx = b"\r\n"  # the last two raw bytes already decoded (the virtual CRLF at first)
        self._pending = b""  # raw bytes received but not decoded yet
        self.done = False
        self.leftover = b""  # raw bytes after the end-of-data line (pipelined commands)

    def feed(self, block: bytes) -> memoryview:
        """Decode ``block``; return the content bytes that are final now (maybe empty)."""
        if self.done:
            raise ValueError("end of data already seen")
        s = self._ctx + self._pending + block
        end = s.find(_EOD)
        if end >= 0:
            self.done = True
            self.leftover = s[end + 5 :]
            self._pending = b""
            # Keep the CRLF that ends the last line; the "." line itself is not content.
            return memoryview(s[: end + 2].replace(b"\r\n.", b"\r\n"))[2:]
        # Everything except the last two bytes is final: a pattern starting in them is found
        # next time, because they become part of ``_ctx`` + ``_pending`` again.
        k = max(len(s) - 2, 2)
        self._ctx = s[k - 2 : k]
        self._pending = s[k:]
        return memoryview(s[:k].replace(b"\r\n.", b"\r\n"))[2:]


def xtext_decode(text: str) -> str:
    """Decode RFC 3461 xtext ("+XX" hex escapes); ``ValueError`` on a malformed escape."""
    raw = text.encode("utf-8", "surrogateescape")
    if b"+" in _XTEXT_HEX.sub(b"", raw):  # a "+" that does not start a valid escape
        raise ValueError(f"malformed xtext: {text!r}")
    decoded = _XTEXT_HEX.sub(lambda m: bytes((int(m.group(1), 16),)), raw)
    return decoded.decode("utf-8", "replace")


class SpoolEnvelope(Envelope):
    """An envelope whose message content is in ``spool``.

    ``content`` and ``original_content`` stay ``None``: the content may be on disk and larger than
    is sensible to hold in memory; read it with ``spool.open()``/``spool.head()``.
    ``xforward`` maps upper-case XFORWARD attribute names (``ADDR``, ``IDENT``, ...) to decoded
    values; unavailable values are absent. Like the rest of the envelope it is reset by RSET, EHLO
    and the end of DATA, which matches Postfix sending XFORWARD before each MAIL.
    """

    def __init__(self) -> None:
        super().__init__()
        self.spool: Spool | None = None
        self.xforward: dict[str, str] = {}


class FilterSMTP(SMTP):
    """An aiosmtpd ``SMTP`` that spools DATA and understands XFORWARD.

    ``data_size_limit`` has no default on purpose (stock silently uses 32 MiB); ``None`` or 0
    means no limit and no SIZE in EHLO. ``spool_dir`` must exist and be private to mailmon.
    The handler's ``handle_DATA`` sees ``envelope.spool`` (a ``Spool``); the spool is closed when
    the hook returns unless the handler called ``spool.persist()``, so a handler that needs the
    content later must persist it or copy it. All other arguments go to ``aiosmtpd.smtp.SMTP``.
    """

    def __init__(
        self,
        handler: Any,
        *,
        data_size_limit: int | None,
        spool_dir: Path,
        spool_memory_limit: int = DEFAULT_MEMORY_LIMIT,
        xforward_clients: Iterable[IPNetwork] = LOOPBACK,
        connections: Connections | None = None,
        data_timeout: float = 180.0,
        spool_min_free_bytes: int = 0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("decode_data"):
            raise ValueError("FilterSMTP spools raw bytes; decode_data=True is not supported")
        if spool_memory_limit < 0:
            raise ValueError("spool_memory_limit must be >= 0")
        if data_timeout <= 0:
            raise ValueError("data_timeout must be > 0")
        super().__init__(handler, data_size_limit=data_size_limit, **kwargs)
        self.spool_dir = Path(spool_dir)
        self.spool_memory_limit = spool_memory_limit
        self.xforward_clients = tuple(xforward_clients)
        self.data_timeout = data_timeout
        self.spool_min_free_bytes = spool_min_free_bytes
        self._connections = connections
        self._admitted = True
        self._xforward_trusted = False
        self._in_data = False
        self._wrap_ehlo_hook()

    def _create_envelope(self) -> SpoolEnvelope:
        return SpoolEnvelope()

    # -- connection: the cap, the idle timer, goodbye ------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # STARTTLS would call this again on the same connection
        super().connection_made(transport)
        if first:
            assert self.session is not None
            self._xforward_trusted = peer_in(self.session.peer, self.xforward_clients)
            if self._connections is not None:
                self._admitted = self._connections.admit(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        if self._connections is not None:
            self._connections.discard(self)

    async def _handle_client(self) -> None:
        if not self._admitted:
            assert self.session is not None
            stopping = self._connections is not None and self._connections.stopping
            log.warning("%r turned away: %s", self.session.peer, "stopping" if stopping else "too many connections")
            self.goodbye(R421_STOPPING if stopping else R421_BUSY)
            return
        await super()._handle_client()

    def _timeout_cb(self) -> None:
        assert self.session is not None
        log.info("%r idle too long%s: 421", self.session.peer, " during DATA" if self._in_data else "")
        self.goodbye(R421_TIMEOUT)

    def in_transaction(self) -> bool:
        """From MAIL until the reply to DATA (or RSET): a transaction a shutdown lets finish."""
        return self._in_data or (self.envelope is not None and self.envelope.mail_from is not None)

    def goodbye(self, reply: str) -> None:
        """Send ``reply`` (a 421, ASCII) and close the connection now, whatever it was doing."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._writer.write(ascii_vietnamese(reply).encode("ascii") + b"\r\n")
        transport.close()  # flushes the reply first; connection_lost() cancels the session task

    # -- MAIL: shutdown and free space ---------------------------------------------------------

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        if self._connections is not None and self._connections.stopping:
            self.goodbye(R421_STOPPING)
            return
        if self.spool_min_free_bytes:
            declared = _SIZE_PARAM.search(arg or "")
            needed = self.spool_min_free_bytes + (int(declared.group(1)) if declared else 0)
            try:
                free = free_bytes(self.spool_dir)
            except OSError:
                log.exception("cannot stat the spool %s", self.spool_dir)
                free = 0
            if free < needed:
                log.warning("spool %s: %d bytes free, %d needed: 452", self.spool_dir, free, needed)
                await self.push(ascii_vietnamese(R452_STORAGE))
                return
        await super().smtp_MAIL(arg)

    # -- EHLO: advertise XFORWARD ----------------------------------------------------------------

    def _wrap_ehlo_hook(self) -> None:
        """Add the XFORWARD line to EHLO through aiosmtpd's 5-argument ``handle_EHLO`` protocol.

        Stock ``smtp_EHLO`` builds its lines in a local list; the only supported way to change
        them is the "new" EHLO hook, which receives the list and returns the lines to send. We
        install such a hook that inserts our line and then defers to the handler's own hook, if
        any (a hook must set ``session.host_name`` itself, so ours does when the handler has none).
        """
        if self._ehlo_hook_ver == "old":
            log.warning("handler uses the deprecated 4-argument handle_EHLO; XFORWARD not advertised")
            return
        user_hook = self._handle_hooks.get("EHLO")

        async def ehlo_hook(
            server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
        ) -> list[str]:
            if self._xforward_trusted:
                responses.insert(len(responses) - 1, _XFORWARD_EHLO)  # the last line is "250 HELP"
            if user_hook is None:
                session.host_name = hostname
                return responses
            result: list[str] = await user_hook(server, session, envelope, hostname, responses)
            return result

        self._handle_hooks["EHLO"] = ehlo_hook
        self._ehlo_hook_ver = "new"

    # -- XFORWARD ----------------------------------------------------------------------------------

    @syntax("XFORWARD attribute=value ...")
    async def smtp_XFORWARD(self, arg: str | None) -> None:
        if await self.check_helo_needed("EHLO"):
            return
        if not self._xforward_trusted:
            assert self.session is not None
            log.warning("%r is not in xforward_clients: XFORWARD refused", self.session.peer)
            await self.push(R550_XFORWARD)
            return
        envelope = self.envelope
        assert isinstance(envelope, SpoolEnvelope)
        if envelope.mail_from:
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        if not arg:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value...")
            return
        updates: dict[str, str | None] = {}
        for item in arg.split():
            name, eq, raw = item.partition("=")
            name = name.upper()
            if name not in XFORWARD_ATTRIBUTES:
                shown = name[:64].encode("ascii", "replace").decode("ascii")
                await self.push(f"501 5.5.4 Bad XFORWARD attribute name: {shown}")
                return
            if not eq or not raw:
                await self.push("501 5.5.4 Error: attribute=value expected")
                return
            try:
                value = xtext_decode(raw)
            except ValueError:
                await self.push("501 5.5.4 Bad XFORWARD attribute value")
                return
            updates[name] = None if value.upper() in _XFORWARD_UNAVAILABLE else value
        # Apply only after the whole command parsed, so a 501 changes nothing.
        for name, new in updates.items():
            if new is None:
                envelope.xforward.pop(name, None)
            else:
                envelope.xforward[name] = new
        await self.push("250 2.0.0 Ok")

    # -- DATA ---------------------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        # Same checks, order and replies as stock SMTP.smtp_DATA.
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self.envelope
        assert isinstance(envelope, SpoolEnvelope)
        if not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return

        await self.push("354 End data with <CR><LF>.<CR><LF>")
        spool = Spool(self.spool_dir, self.spool_memory_limit)
        self._in_data = True
        try:
            self._reset_timeout(self.data_timeout)
            stored = await self._receive_data(spool)
            if stored is not _Stored.OK:
                # Like stock: the client has sent everything, then hears why (RFC 5321 §4.2.5).
                self._end_transaction()
                status: Any = (
                    "552 5.3.4 Error: Too much mail data"
                    if stored is _Stored.TOO_MUCH
                    else "451 4.3.0 Error: cannot store the message, try again later"
                )
            else:
                envelope.spool = spool
                # The client waits for our answer now: the handler's own timeouts bound this time.
                self._stop_timer()
                try:
                    status = await self._call_handler_hook("DATA")
                finally:
                    self._end_transaction()
        finally:
            self._in_data = False
            # No-op for a spool the handler persisted; otherwise deletes the temp file.
            spool.close()
        if self.transport is not None:
            self._reset_timeout()
        await self.push("250 OK" if status is MISSING else status)
        if self._connections is not None and self._connections.stopping:
            self.goodbye(R421_STOPPING)  # the transaction that was under way is done; no new one

    def _stop_timer(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()

    def _end_transaction(self) -> None:
        self._set_post_data_state()  # type: ignore[no-untyped-call]  # untyped in aiosmtpd

    async def _receive_data(self, spool: Spool) -> _Stored:
        """Read the DATA stream into ``spool`` up to the end-of-data line.

        When the content goes over ``data_size_limit`` or the spool cannot be written (disk full,
        spool directory missing), the spool is closed at once and the rest of the stream is read
        and discarded, so that the reply comes after the end-of-data line and the session stays
        in step. Bytes after that line (pipelined commands) are pushed back into the reader.
        """
        reader = self._reader
        decoder = DataDecoder()
        limit = self.data_size_limit
        stored = _Stored.OK
        while not decoder.done:
            if self.transport is None:
                raise asyncio.CancelledError
            try:
                block = await reader.read(READ_BLOCK)
            except asyncio.CancelledError:
                # connection_lost()/eof_received() cancel this task, as in stock smtp_DATA.
                assert self.session is not None
                log.info("%r connection lost during DATA", self.session.peer)
                self._writer.close()
                raise
            if not block:
                # EOF reached before the cancellation from eof_received() was delivered:
                # end the same way.
                self._writer.close()
                raise asyncio.CancelledError
            self._reset_timeout(self.data_timeout)
            out = decoder.feed(block)
            if stored is not _Stored.OK:
                continue
            if limit and spool.size + len(out) > limit:
                stored = _Stored.TOO_MUCH
                spool.close()  # give back the memory/disk now; keep draining
                continue
            try:
                spool.write(out)
            except OSError:
                log.exception("cannot write spool in %s", self.spool_dir)
                stored = _Stored.FAILED
                spool.close()
        if decoder.leftover:
            reader._buffer[0:0] = decoder.leftover  # type: ignore[attr-defined]
        return stored
