"""One sweep over every mailbox: quota and unread mail through IMAP, forwarding rules through
ManageSieve, both as Dovecot's master user (SASL PLAIN with the mailbox as authorization id).

A sweep is two logins per box, so it is one asyncio loop with ``sweep_concurrency`` boxes in
flight, speaking both protocols itself: after the login the commands go out in one write
(pipelined), a FETCH follows only when SEARCH found unseen mail and a GETSCRIPT only when a script
is active. A box that fails or runs out of time is recorded with its error and the sweep goes on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Self

from monitor.config import Config, read_secret, split_hostport
from monitor.mailboxes.forwarding_sources import parse_virtual_aliases, redirect_targets
from monitor.store import AsyncStore, Store, utcnow

_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_QUOTA_RESOURCES = re.compile(rb"\(([^)]*)\)\s*$")
_EXISTS = re.compile(rb"^\* (\d+) EXISTS$", re.IGNORECASE)
_INTERNALDATE = re.compile(rb'INTERNALDATE "\s?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')
_MONTHS = {m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_SIEVE_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')
OLDEST_UNSEEN_SAMPLE = 20  # the oldest by arrival among the first unseen UIDs, not all of them
MAX_LINE = 16 << 20  # SEARCH UNSEEN of a box with a million unread mails still fits


@dataclass
class BoxStatus:
    address: str
    quota_used_bytes: int | None = None
    quota_limit_bytes: int | None = None
    inbox_messages: int | None = None
    oldest_unseen: str | None = None
    sieve_forwards: list[str] = field(default_factory=list)
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "polled_at": utcnow(),
            "quota_used_bytes": self.quota_used_bytes,
            "quota_limit_bytes": self.quota_limit_bytes,
            "inbox_messages": self.inbox_messages,
            "oldest_unseen": self.oldest_unseen,
            "sieve_forwards": json.dumps(self.sieve_forwards),
            "error": self.error,
        }


@dataclass
class SweepReport:
    boxes: int = 0
    errors: int = 0
    seconds: float = 0.0


class ProtocolError(Exception):
    """The server refused a command or answered something this client does not understand."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def tls_context(mode: str, host: str) -> ssl.SSLContext | None:
    """STARTTLS unless ``mode`` is "none", or "auto" and ``host`` is loopback (nothing leaves the machine)."""
    if mode == "none" or (mode == "auto" and _is_loopback(host)):
        return None
    return ssl.create_default_context()


class _Connection:
    """A line-oriented client connection; literals ({N} / {N+}) are read into the line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Self:
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE)
        return cls(reader, writer)

    async def line(self) -> list[bytes]:
        """One response line as its parts: text, then each literal's bytes and the text after it."""
        parts: list[bytes] = []
        while True:
            raw = await self.reader.readline()
            if not raw.endswith(b"\n"):
                raise ConnectionError("connection closed by the server")
            text = raw.rstrip(b"\r\n")
            literal = _LITERAL.search(text)
            if literal is None:
                parts.append(text)
                return parts
            parts.append(text[: literal.start()])
            parts.append(await self.reader.readexactly(int(literal.group(1))))

    def send(self, *commands: bytes) -> None:
        self.writer.write(b"".join(c + b"\r\n" for c in commands))

    async def starttls(self, context: ssl.SSLContext, host: str) -> None:
        await self.writer.start_tls(context, server_hostname=host)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):  # already reset: nothing left to tell the server
            await self.writer.wait_closed()


class _Imap(_Connection):
    async def tagged(self, tag: bytes) -> tuple[list[bytes], bytes]:
        """The untagged lines before ``tag``'s completion and that completion ("OK …" and so on)."""
        untagged: list[bytes] = []
        while True:
            try:
                parts = await self.line()
            except ConnectionError:
                bye = [line for line in untagged if line.upper().startswith(b"* BYE")]
                if bye:  # LOGOUT is answered with a BYE too, but then by the tag before the close
                    raise ProtocolError(f"IMAP server closed: {bye[0].decode(errors='replace')}") from None
                raise
            if parts[0].startswith(tag + b" "):
                return untagged, parts[0][len(tag) + 1 :]
            untagged.append(b"".join(parts))

    async def expect_ok(self, tag: bytes, what: str) -> tuple[list[bytes], bytes]:
        untagged, done = await self.tagged(tag)
        if not done.upper().startswith(b"OK"):
            raise ProtocolError(f"IMAP {what}: {done.decode(errors='replace')}"[:300])
        return untagged, done


class _Sieve(_Connection):
    async def response(self) -> tuple[list[list[bytes]], list[bytes]]:
        """Data lines (as tokens) up to the OK/NO/BYE line, and that line's tokens."""
        lines: list[list[bytes]] = []
        while True:
            parts = await self.line()
            tokens = _sieve_tokens(parts)
            # an atom, not a string: a script may well be called "OK"
            if parts[0].split(b" ", 1)[0].upper() in (b"OK", b"NO", b"BYE"):
                return lines, tokens
            lines.append(tokens)

    async def expect_ok(self, what: str) -> list[list[bytes]]:
        lines, done = await self.response()
        if done[0].upper() != b"OK":
            raise ProtocolError(f"ManageSieve {what}: {b' '.join(done).decode(errors='replace')}"[:300])
        return lines


def _sieve_tokens(parts: list[bytes]) -> list[bytes]:
    """Quoted strings unquoted, atoms as they are, literals whole (they alternate with the text)."""
    tokens: list[bytes] = []
    for i, part in enumerate(parts):
        if i % 2:
            tokens.append(part)
            continue
        for quoted, atom in _SIEVE_TOKEN.findall(part):
            tokens.append(re.sub(rb"\\(.)", rb"\1", quoted) if atom == b"" else atom)
    return tokens


def _quote(value: str) -> bytes:
    return b'"' + value.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _internaldate(line: bytes) -> datetime | None:
    m = _INTERNALDATE.search(line)
    if m is None or m.group(2).capitalize() not in _MONTHS:
        return None
    day, year, hour, minute, second = (int(m.group(n)) for n in (1, 3, 4, 5, 6))
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
    tz = timezone(-offset if m.group(7) == b"-" else offset)
    return datetime(year, _MONTHS[m.group(2).capitalize()], day, hour, minute, second, tzinfo=tz)


class Poller:
    def __init__(self, config: Config) -> None:
        self.config = config
        d = config.dovecot
        self.master = d.master_user
        self.password = read_secret(d.master_password_file, "dovecot.master_password_file")
        self.imap = split_hostport(d.imap)
        self.sieve = split_hostport(d.managesieve)
        self.timeout = d.box_timeout_seconds
        # Each server on its own: a ManageSieve elsewhere than a loopback IMAP still gets TLS before
        # the master password is sent to it. Verified: certificate and host name; built once.
        self.imap_tls = tls_context(d.tls, self.imap[0])
        self.sieve_tls = tls_context(d.tls, self.sieve[0])

    def _plain(self, address: str) -> bytes:
        return base64.b64encode(f"{address}\0{self.master}\0{self.password}".encode())

    async def poll(self, address: str) -> BoxStatus:
        status = BoxStatus(address)
        try:
            async with asyncio.timeout(self.timeout):
                await self._poll_imap(status)
                await self._poll_sieve(status)
        except TimeoutError:
            status.error = f"TimeoutError: box not read within {self.timeout:g}s"
        except Exception as exc:  # one box must never stop the sweep
            status.error = f"{type(exc).__name__}: {exc}"[:500]
        return status

    async def poll_all(self, addresses: list[str], concurrency: int, per_second: float = 0.0) -> list[BoxStatus]:
        """Every box, ``concurrency`` at a time, starting at most ``per_second`` boxes a second (0: no pace)."""
        results: list[BoxStatus | None] = [None] * len(addresses)
        todo = iter(enumerate(addresses))
        loop = asyncio.get_running_loop()
        gap = 1.0 / per_second if per_second > 0 else 0.0
        next_start = loop.time()

        async def worker() -> None:
            nonlocal next_start
            for i, address in todo:
                if gap:
                    now = loop.time()
                    start, next_start = max(next_start, now), max(next_start, now) + gap
                    await asyncio.sleep(start - now)
                results[i] = await self.poll(address)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(addresses)))))
        return [r for r in results if r is not None]

    async def _poll_imap(self, status: BoxStatus) -> None:
        host, port = self.imap
        conn = await _Imap.open(host, port)
        try:
            greeting = (await conn.line())[0]
            if not greeting.startswith(b"* OK"):
                raise ProtocolError(f"IMAP greeting: {greeting.decode(errors='replace')}"[:300])
            if b"SASL-IR" not in greeting.upper():
                raise ProtocolError("IMAP server without SASL-IR (login with an initial response)")
            if self.imap_tls is not None:
                conn.send(b"t STARTTLS")
                await conn.expect_ok(b"t", "STARTTLS")
                await conn.starttls(self.imap_tls, host)
            auth = b"a AUTHENTICATE PLAIN " + self._plain(status.address)
            # EXAMINE, not SELECT: reading must not set \Seen or otherwise change the box
            conn.send(auth, b"q GETQUOTAROOT INBOX", b"x EXAMINE INBOX", b"s UID SEARCH UNSEEN")
            _, logged_in = await conn.expect_ok(b"a", "login")
            quota_lines, quota_done = await conn.tagged(b"q")
            if quota_done.upper().startswith(b"OK"):
                for line in quota_lines:
                    _read_quota(line, status)
            elif b"QUOTA" in logged_in.upper():
                raise ProtocolError(f"IMAP GETQUOTAROOT: {quota_done.decode(errors='replace')}"[:300])
            for line in (await conn.expect_ok(b"x", "EXAMINE"))[0]:
                if m := _EXISTS.match(line):
                    status.inbox_messages = int(m.group(1))
            unseen = sorted(
                int(uid)
                for line in (await conn.expect_ok(b"s", "SEARCH"))[0]
                if line.upper().startswith(b"* SEARCH")
                for uid in line.split()[2:]
            )
            if unseen:
                uids = ",".join(map(str, unseen[:OLDEST_UNSEEN_SAMPLE])).encode()
                conn.send(b"f UID FETCH " + uids + b" (INTERNALDATE)", b"l LOGOUT")
                dates = [d for line in (await conn.expect_ok(b"f", "FETCH"))[0] if (d := _internaldate(line))]
                if dates:
                    status.oldest_unseen = min(dates).isoformat()
            else:
                conn.send(b"l LOGOUT")
            await conn.tagged(b"l")
        finally:
            await conn.close()

    async def _poll_sieve(self, status: BoxStatus) -> None:
        host, port = self.sieve
        conn = await _Sieve.open(host, port)
        try:
            await conn.expect_ok("greeting")
            if self.sieve_tls is not None:
                conn.send(b"STARTTLS")
                await conn.expect_ok("STARTTLS")
                await conn.starttls(self.sieve_tls, host)
                await conn.expect_ok("capabilities after STARTTLS")
            conn.send(b'AUTHENTICATE "PLAIN" "' + self._plain(status.address) + b'"', b"LISTSCRIPTS")
            await conn.expect_ok("login")
            listed = await conn.expect_ok("LISTSCRIPTS")
            active = next((t[0].decode() for t in listed if len(t) > 1 and t[1].upper() == b"ACTIVE"), None)
            if active is None:  # no active script: nothing can forward
                conn.send(b"LOGOUT")
            else:
                conn.send(b"GETSCRIPT " + _quote(active), b"LOGOUT")
                script = b"".join(t[0] for t in await conn.expect_ok("GETSCRIPT") if t).decode("utf-8", "replace")
                domains = self.config.organization
                status.sieve_forwards = [
                    t for t in redirect_targets(script) if t.startswith("${") or not _government(t, domains)
                ]
            await conn.response()
        finally:
            await conn.close()


def _read_quota(line: bytes, status: BoxStatus) -> None:
    """``* QUOTA "User quota" (STORAGE 196 1048576 MESSAGE 1 1000)``: STORAGE is in KiB."""
    if not line.upper().startswith(b"* QUOTA "):
        return
    m = _QUOTA_RESOURCES.search(line)
    items = m.group(1).split() if m else []
    for name, usage, limit in zip(items[::3], items[1::3], items[2::3], strict=False):
        if name.upper() == b"STORAGE":
            status.quota_used_bytes = int(usage) * 1024
            status.quota_limit_bytes = int(limit) * 1024


def _government(address: str, org: Any) -> bool:
    from rules.facts import Domains

    return Domains(tuple(org.local_domains), tuple(org.government_domains)).is_government(address)


@dataclass
class SweepResults:
    """What one sweep read, before it is stored."""

    boxes: list[BoxStatus]
    last_logins: dict[str, datetime]
    seconds: float


def read_mailboxes(config: Config, addresses: list[str]) -> SweepResults:
    """Read every mailbox over IMAP and ManageSieve, add virtual-alias forwards and the last_login dict.

    No store work: the service runs this on a thread of its own, and only the short writes of
    ``save_sweep`` go to the store.
    """
    started = time.perf_counter()
    dovecot = config.dovecot
    results = asyncio.run(
        Poller(config).poll_all(addresses, dovecot.sweep_concurrency, dovecot.sweep_boxes_per_second)
    )
    aliases: dict[str, list[str]] = {}
    for path in config.dovecot.virtual_alias_maps:
        aliases.update(parse_virtual_aliases(path.read_text("utf-8", "replace")))
    for result in results:
        for target in aliases.get(result.address, []):
            if not _government(target, config.organization):
                result.sieve_forwards.append(f"{target} (virtual_alias_maps)")
    last_logins: dict[str, datetime] = {}
    if config.dovecot.last_login_dict is not None:
        from zoneinfo import ZoneInfo

        from monitor.mailboxes.dovecot_log import read_last_login_dict

        last_logins = read_last_login_dict(config.dovecot.last_login_dict, ZoneInfo(config.organization.timezone))
    return SweepResults(results, last_logins, time.perf_counter() - started)


def addresses_to_sweep(store: Store, only: str | None = None) -> list[str]:
    return [only.lower()] if only else store.mailboxes.to_sweep()


def save_sweep(store: Store, results: SweepResults) -> SweepReport:
    """Store each mailbox's status and the imported last logins; returns the sweep's summary."""
    store.mailboxes.save_sweep([r.row() for r in results.boxes])
    if results.last_logins:
        store.logins.save_last_logins(results.last_logins, "last_login dict")
    errors = sum(1 for r in results.boxes if r.error)
    return SweepReport(boxes=len(results.boxes), errors=errors, seconds=results.seconds)


def sweep(config: Config, store: Store, only: str | None = None) -> SweepReport:
    """One sweep in the calling thread (`mailmon sweep`)."""
    return save_sweep(store, read_mailboxes(config, addresses_to_sweep(store, only)))


async def sweep_beside(config: Config, store: AsyncStore, only: str | None = None) -> SweepReport:
    """One sweep from the event loop: the mailboxes are read on a thread of their own, the store is
    only asked for the list and given the results."""
    addresses = await store.call(lambda s: addresses_to_sweep(s, only))
    results = await asyncio.to_thread(read_mailboxes, config, addresses)
    return await store.call(lambda s: save_sweep(s, results))
