"""Hand a filtered message back to Postfix's reinjection listener, streaming from the spool.

Why smtplib (docs/libraries.md, "Re-injection"): stdlib smtplib in a bounded thread pool is as fast
as aiosmtplib on small mail, faster and ~110 MB leaner on 41 MB mail, and never upgrades to TLS on
its own (aiosmtplib's opportunistic STARTTLS failed on a self-signed reinjection port).
``smtplib.SMTP.sendmail`` wants the whole message as one ``bytes``, so the transaction is driven
command by command here and the body is sent from ``spool.open()`` in 256 KiB chunks, with every
bare CR or LF made a CRLF (no smuggling at a relay that ends lines at a bare LF), the ``X-Mailmon``
fields a sender wrote removed from the header block, and dot-stuffed per chunk.

Failures raise ``ReinjectError``. ``temporary=True`` means "answer 4xx, Postfix keeps the message
and retries": connection problems, timeouts, any 4xx, and anything unexpected. Only a 5xx to MAIL
or DATA, or a 5xx for every recipient, is permanent. Recipients refused while others were accepted
are returned in ``ReinjectResult.refused``: the message was delivered without them, and the caller
decides what that means (or passes ``all_or_nothing=True`` to turn a partial 4xx into a retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import smtplib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import BinaryIO

from monitor.inspect.added_headers import strip_fields
from monitor.smtp.spool import Spool

CHUNK = 256 * 1024
"""Body bytes read from the spool and sent per ``sendall``."""


@dataclass(frozen=True)
class ReinjectResult:
    """The final reply to DATA, plus recipients that the server refused (address → reply)."""

    code: int
    text: str
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)


class ReinjectError(Exception):
    """Reinjection failed; ``temporary`` says whether retrying later may succeed."""

    def __init__(self, temporary: bool, code: int | None, text: str) -> None:
        super().__init__(temporary, code, text)
        self.temporary = temporary
        self.code = code
        self.text = text

    def __str__(self) -> str:
        kind = "temporary" if self.temporary else "permanent"
        code = "" if self.code is None else f"{self.code} "
        return f"{kind} reinjection failure: {code}{self.text}"


class Sessions:
    """Idle re-injection connections, reused as Postfix's own smtp client reuses its connections.

    A session costs a connect, a greeting, EHLO and QUIT: 0.8 ms of a 1.5 ms small message. A
    connection is kept only after a transaction that ended in 2xx, for ``max_idle_seconds`` (well
    under Postfix's smtpd_timeout), and one found closed at MAIL FROM is replaced — nothing of
    the message has been sent at that point, so the retry on a new connection is safe.
    """

    def __init__(self, max_idle: int = 8, max_idle_seconds: float = 20.0) -> None:
        self.max_idle = max_idle
        self.max_idle_seconds = max_idle_seconds
        self._idle: list[tuple[str, int, float, smtplib.SMTP]] = []
        self._lock = threading.Lock()

    def take(self, host: str, port: int) -> smtplib.SMTP | None:
        now = time.monotonic()
        found, stale = None, []
        with self._lock:
            keep = []
            for entry in self._idle:
                if now - entry[2] > self.max_idle_seconds:
                    stale.append(entry[3])
                elif found is None and entry[:2] == (host, port):
                    found = entry[3]
                else:
                    keep.append(entry)
            self._idle = keep
        for smtp in stale:
            _close(smtp)
        return found

    def give(self, host: str, port: int, smtp: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append((host, port, time.monotonic(), smtp))
                return
        _close(smtp)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for entry in idle:
            _close(entry[3])


class _Stale(Exception):
    """A kept connection turned out closed before anything of the message was sent."""


def _is_permanent(code: int) -> bool:
    return 500 <= code <= 599


def _path(address: str) -> str:
    """The SMTP path for an address from aiosmtpd (null sender is "<>")."""
    if "\r" in address or "\n" in address:
        raise ReinjectError(False, None, f"line break in address {address!r}")
    return "<>" if address in ("", "<>") else f"<{address}>"


def _command(smtp: smtplib.SMTP, line: str) -> tuple[int, str]:
    # smtplib.putcmd encodes with "ascii" (or "utf-8" after SMTPUTF8) strictly; aiosmtpd gives us
    # arguments decoded with surrogateescape, so encode them back to the exact client bytes.
    smtp.send(line.encode("utf-8", "surrogateescape") + b"\r\n")
    code, text = smtp.getreply()
    return code, text.decode("utf-8", "replace")


_LINE_END = re.compile(rb"\r\n|\r|\n")


def crlf_lines(data: bytes) -> bytes:
    """Every line end as CRLF: a bare CR or a bare LF becomes CRLF.

    A relay that ends lines at a bare LF (or CR) would otherwise read ``LF "." LF`` in a body as
    the end of the message and what follows as new commands: a second message that mailmon never
    checked, in the first one's session (SMTP smuggling). Counting first keeps the common case, a
    message with CRLF line ends only, to three fast scans and no copy.
    """
    crlf = data.count(b"\r\n")
    if data.count(b"\n") == crlf and data.count(b"\r") == crlf:
        return data
    return _LINE_END.sub(b"\r\n", data)


HEADER_LIMIT = 2**20
"""Bytes of the header block looked through for ``X-Mailmon`` fields to drop. A longer block is an
inspection-limit finding (max_header_bytes) and quarantined, so it is not re-injected this way."""


def _normalised(reader: BinaryIO) -> Iterator[bytes]:
    """The content in chunks, with CRLF line ends (crlf_lines); a CR that ends a chunk waits for the next."""
    carry = b""
    while chunk := reader.read(CHUNK):
        data = carry + chunk
        data, carry = (data[:-1], b"\r") if data.endswith(b"\r") else (data, b"")
        yield crlf_lines(data)
    if carry:
        yield crlf_lines(carry)


def _without_mailmon_fields(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The stream with the ``X-Mailmon`` fields of its header block removed: only mailmon speaks for mailmon."""
    head = b""
    for chunk in chunks:
        head += chunk
        if head.startswith(b"\r\n") or b"\r\n\r\n" in head or len(head) >= HEADER_LIMIT:
            break
    if head.startswith(b"\r\n"):
        end = 0  # no header block at all
    elif (blank := head.find(b"\r\n\r\n")) >= 0:
        end = blank + 2
    elif len(head) >= HEADER_LIMIT:
        end = head.rfind(b"\r\n") + 2 if b"\r\n" in head else 0  # whole lines only
    else:
        end = len(head)  # all header, no body
    yield strip_fields(head[:end]) + head[end:]
    yield from chunks


def _send_body(smtp: smtplib.SMTP, reader: BinaryIO, prepend: bytes) -> None:
    """Send ``prepend`` + the spool content with CRLF line ends and without the ``X-Mailmon`` fields a
    sender may have written, dot-stuffed, then the end-of-data line."""
    prev2 = b"\r\n"  # the last two raw bytes sent; initially DATA's own CRLF

    def send(raw: bytes) -> None:
        nonlocal prev2
        if raw:
            # Only the two preceding bytes matter for "\r\n." at a chunk boundary, and they are
            # never changed by the replacement, so per-chunk stuffing is exact. Every LF sent is
            # part of a CRLF (crlf_lines), so no "." can follow a line end without being stuffed.
            joined = prev2 + raw
            smtp.send(joined.replace(b"\r\n.", b"\r\n..")[2:])
            prev2 = joined[-2:]

    send(crlf_lines(prepend))
    for data in _without_mailmon_fields(_normalised(reader)):
        send(data)
    smtp.send((b"" if prev2 == b"\r\n" else b"\r\n") + b".\r\n")


def _transaction(
    smtp: smtplib.SMTP,
    mail_from: str,
    rcpt_tos: Sequence[str],
    mail_options: Sequence[str],
    reader: BinaryIO,
    size: int,
    prepend: bytes,
    all_or_nothing: bool,
    reused: bool = False,
) -> ReinjectResult:
    if not reused:
        code, _ = smtp.ehlo()
        if code != 250:
            code, helo_reply = smtp.helo()
            if code != 250:
                raise ReinjectError(True, code, f"HELO refused: {helo_reply.decode('utf-8', 'replace')}")
    options: list[str] = []
    if smtp.does_esmtp:
        # The client's SIZE= described what it sent us; announce what we are about to send.
        options = [opt for opt in mail_options if not opt.upper().startswith("SIZE=")]
        if smtp.has_extn("size"):
            options.append(f"SIZE={size + len(prepend)}")
    mail = f"MAIL FROM:{_path(mail_from)}{''.join(' ' + o for o in options)}"
    if reused:
        try:
            code, text = _command(smtp, mail)
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Stale from exc
        if code == 421:  # the server's idle timeout, said just before it closed
            raise _Stale
    else:
        code, text = _command(smtp, mail)
    if not 200 <= code <= 299:
        raise ReinjectError(not _is_permanent(code), code, f"MAIL FROM refused: {text}")

    refused: dict[str, tuple[int, str]] = {}
    for rcpt in rcpt_tos:
        code, text = _command(smtp, f"RCPT TO:{_path(rcpt)}")
        if code not in (250, 251):
            refused[rcpt] = (code, text)
    some_temporary = any(not _is_permanent(c) for c, _ in refused.values())
    if len(refused) == len(rcpt_tos) or (all_or_nothing and some_temporary):
        with contextlib.suppress(OSError, smtplib.SMTPException):
            _command(smtp, "RSET")  # the verdict is known already; QUIT/close follows anyway
        first = next((r for r in refused.values() if not _is_permanent(r[0])), next(iter(refused.values())))
        detail = "; ".join(f"<{a}>: {c} {t}" for a, (c, t) in refused.items())
        raise ReinjectError(some_temporary, first[0], f"recipients refused: {detail}")

    code, text = _command(smtp, "DATA")
    if code != 354:
        raise ReinjectError(not _is_permanent(code), code, f"DATA refused: {text}")
    _send_body(smtp, reader, prepend)
    code, raw = smtp.getreply()
    text = raw.decode("utf-8", "replace")
    if not 200 <= code <= 299:
        raise ReinjectError(not _is_permanent(code), code, f"message refused: {text}")
    return ReinjectResult(code, text, refused)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _connect(host: str, port: int, timeout: float, local_hostname: str) -> smtplib.SMTP:
    try:
        smtp = smtplib.SMTP(host, port, local_hostname=local_hostname, timeout=timeout)
    except smtplib.SMTPConnectError as exc:  # the greeting was not 220
        err = exc.smtp_error
        text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
        raise ReinjectError(True, exc.smtp_code, f"greeting from {host}:{port}: {text}") from exc
    except OSError as exc:  # refused, unreachable, timed out (SMTPException is an OSError)
        raise ReinjectError(True, None, f"connect to {host}:{port}: {exc!r}") from exc
    # Commands and the last small DATA chunk must not wait for Nagle + delayed ACK (~40 ms each).
    if smtp.sock is not None:
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return smtp


def _attempt(
    smtp: smtplib.SMTP, transaction: functools.partial[ReinjectResult], host: str, port: int, reused: bool
) -> ReinjectResult:
    """One transaction on ``smtp``; on any failure the connection is closed (and never kept)."""
    try:
        return transaction(smtp, reused=reused)
    except (OSError, smtplib.SMTPException) as exc:  # reset, timeout, disconnect mid-session
        _close(smtp)
        raise ReinjectError(True, None, f"session with {host}:{port}: {exc!r}") from exc
    except BaseException:  # ReinjectError, _Stale, cancellation
        _close(smtp)
        raise


def _session(
    host: str,
    port: int,
    timeout: float,
    local_hostname: str,
    transaction: functools.partial[ReinjectResult],
    sessions: Sessions | None,
) -> tuple[ReinjectResult, smtplib.SMTP]:
    """The transaction on a kept connection, or on a new one if none is kept or the kept one was closed."""
    kept = sessions.take(host, port) if sessions is not None else None
    if kept is not None:
        with contextlib.suppress(_Stale):  # closed while kept: on to a new connection
            return _attempt(kept, transaction, host, port, reused=True), kept
    smtp = _connect(host, port, timeout, local_hostname)
    return _attempt(smtp, transaction, host, port, reused=False), smtp


def _reinject_sync(
    host: str,
    port: int,
    timeout: float,
    local_hostname: str,
    reader: BinaryIO,
    transaction: functools.partial[ReinjectResult],
    sessions: Sessions | None,
) -> ReinjectResult:
    try:
        result, smtp = _session(host, port, timeout, local_hostname, transaction, sessions)
        if sessions is not None:
            sessions.give(host, port, smtp)
        else:
            _close(smtp)
        return result
    finally:
        reader.close()


async def reinject(
    host: str,
    port: int,
    *,
    mail_from: str,
    rcpt_tos: Sequence[str],
    mail_options: Sequence[str],
    spool: Spool,
    prepend: bytes = b"",
    timeout: float,
    local_hostname: str,
    executor: Executor | None = None,
    all_or_nothing: bool = False,
    sessions: Sessions | None = None,
) -> ReinjectResult:
    """Send one message to ``host:port`` (no TLS) and return the final reply.

    ``mail_options`` are the client's MAIL parameters (aiosmtpd's ``envelope.mail_options``);
    they are passed on except ``SIZE=``, which is replaced by our own when the server has SIZE.
    ``prepend`` (complete header lines ending in CRLF) is sent before the spool content.
    ``timeout`` applies to each socket operation. ``executor`` runs the blocking smtplib session
    (the loop's default executor when None). With ``all_or_nothing``, a 4xx for any recipient
    aborts before DATA with a temporary ``ReinjectError`` instead of delivering to the others.
    """
    if not rcpt_tos:
        raise ValueError("reinject needs at least one recipient")
    loop = asyncio.get_running_loop()
    # Open the reader here, on the loop that wrote the spool; the worker owns and closes it, so a
    # cancelled caller cannot pull the file from under a session that is still running.
    reader = spool.open()
    transaction = functools.partial(
        _transaction,
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        mail_options=list(mail_options),
        reader=reader,
        size=spool.size,
        prepend=prepend,
        all_or_nothing=all_or_nothing,
    )
    try:
        future = loop.run_in_executor(
            executor, _reinject_sync, host, port, timeout, local_hostname, reader, transaction, sessions
        )
    except BaseException:
        reader.close()
        raise
    return await future


def _probe_sync(host: str, port: int, timeout: float) -> bool:
    try:
        smtp = smtplib.SMTP(host, port, local_hostname="localhost", timeout=timeout)
    except OSError:  # includes SMTPConnectError (greeting not 220) and timeouts
        return False
    _close(smtp)
    return True


async def reinject_probe(host: str, port: int, timeout: float) -> bool:
    """True when ``host:port`` answers with a 220 greeting (then says QUIT)."""
    return await asyncio.to_thread(_probe_sync, host, port, timeout)
