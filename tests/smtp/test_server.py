"""FilterSMTP (block-wise DATA into a Spool, XFORWARD), Spool and reinject, against real sockets.

Servers run on 127.0.0.1 port 0 in one background event loop: the FilterSMTP under test, whose
handler re-injects into a stock aiosmtpd "sink" standing in for Postfix's reinjection port.
Clients are plain smtplib or raw sockets in the test thread.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import os
import re
import smtplib
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.smtp.reinject import CHUNK, ReinjectError, ReinjectResult, reinject, reinject_probe
from monitor.smtp.server import DataDecoder, FilterSMTP, SpoolEnvelope, xtext_decode
from monitor.smtp.spool import Spool

T = TypeVar("T")
TINY_MEMORY = 200  # spool memory limit for most tests: small bodies stay in memory, others spill


# -- infrastructure ----------------------------------------------------------------------------


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SinkSMTP(SMTP):
    """Stock aiosmtpd, but with long lines allowed so that bodies need not fit 1000 octets."""

    line_length_limit = 2**20


@dataclass
class SinkHandler:
    """Records what the 'Postfix' reinjection port received; replies are configurable."""

    received: list[Envelope] = field(default_factory=list)
    data_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope)
        return "250 2.0.0 Ok: queued as SINK1"


@dataclass
class Seen:
    """What the filter's DATA hook observed."""

    mail_from: str | None
    rcpt_tos: list[str]
    size: int
    in_memory: bool
    path: Path | None
    path_existed: bool
    xforward: dict[str, str]
    result: ReinjectResult | None = None


@dataclass
class RelayHandler:
    """A minimal filter handler: record, re-inject to the sink, map errors to replies."""

    sink_port: int
    executor: ThreadPoolExecutor
    relay: bool = True
    seen: list[Seen] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SpoolEnvelope) -> str:
        spool = envelope.spool
        assert spool is not None and envelope.content is None
        seen = Seen(
            envelope.mail_from, list(envelope.rcpt_tos), spool.size, spool.in_memory, spool.path,
            spool.path is not None and spool.path.exists(), dict(envelope.xforward),
        )
        self.seen.append(seen)
        if not self.relay:
            return "250 2.0.0 Ok: dropped"
        try:
            seen.result = await reinject(
                "127.0.0.1", self.sink_port, mail_from=envelope.mail_from or "<>",
                rcpt_tos=envelope.rcpt_tos, mail_options=envelope.mail_options, spool=spool,
                timeout=60, local_hostname="filter.test", executor=self.executor,
            )
        except ReinjectError as exc:
            return f"451 4.3.0 {exc}" if exc.temporary else f"554 5.7.1 {exc}"
        return f"250 2.0.0 Ok: {seen.result.text}"

    async def handle_exception(self, error: Exception) -> str:
        return f"451 4.3.0 internal error: {error!r}"


@dataclass
class Stack:
    lt: LoopThread
    sink: SinkHandler
    sink_port: int
    spool_dir: Path
    executor: ThreadPoolExecutor
    start_filter: Callable[..., tuple[int, RelayHandler]]

    def reset(self) -> None:
        self.sink.received.clear()
        self.sink.data_reply = None
        self.sink.rcpt_replies.clear()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    lt = LoopThread()
    executor = ThreadPoolExecutor(4, thread_name_prefix="reinject")
    servers: list[asyncio.Server] = []
    spool_dir = tmp_path_factory.mktemp("spool")

    def serve(factory: Callable[[], SMTP]) -> int:
        async def start() -> asyncio.Server:
            return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)

        server = lt.run(start())
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    sink = SinkHandler()
    sink_port = serve(lambda: SinkSMTP(sink, data_size_limit=None, hostname="sink.test",
                                       enable_SMTPUTF8=True, loop=lt.loop))

    def start_filter(
        data_size_limit: int | None = 64 * 2**20, memory_limit: int = TINY_MEMORY, **kw: Any
    ) -> tuple[int, RelayHandler]:
        handler = kw.pop("handler", None) or RelayHandler(sink_port, executor)
        directory = kw.pop("spool_dir", spool_dir)
        port = serve(lambda: FilterSMTP(handler, data_size_limit=data_size_limit, spool_dir=directory,
                                        spool_memory_limit=memory_limit, hostname="filter.test",
                                        enable_SMTPUTF8=True, loop=lt.loop, **kw))
        return port, handler

    yield Stack(lt, sink, sink_port, spool_dir, executor, start_filter)

    async def stop() -> None:
        for s in servers:
            s.close()
            await s.wait_closed()

    lt.run(stop())
    lt.close()
    executor.shutdown()


@pytest.fixture(scope="module")
def main_filter(stack: Stack) -> tuple[int, RelayHandler]:
    return stack.start_filter()


def client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=60)


def wait_for(cond: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def smtplib_expected(body: bytes) -> bytes:
    """What an RFC-conforming receiver stores for ``sendmail(body)``: smtplib adds a final CRLF."""
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def stuff(body: bytes) -> bytes:
    """The DATA stream smtplib sends for ``body`` (dot-stuffed, CRLF-terminated, end line)."""
    q = re.sub(rb"(?m)^\.", b"..", body)
    return (q if q.endswith(b"\r\n") else q + b"\r\n") + b".\r\n"


# -- body strategies: CRLF-separated lines, no bare CR or LF ---------------------------------------

_no_crlf = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_line = st.one_of(
    st.sampled_from([b"", b".", b"..", b"...", b". ", b".\x00", b"From me", b"\xff\xfe"]),
    _no_crlf,
    _no_crlf.map(lambda b: b"." + b),
    st.builds(lambda c, n: c * n, st.sampled_from([b"A", b".", b"\xe9"]), st.integers(700, 3000)),
)
bodies = st.builds(
    lambda lines, crlf_end: b"\r\n".join(lines) + (b"\r\n" if crlf_end and lines else b""),
    st.lists(_line, max_size=25),
    st.booleans(),
)


# -- DataDecoder ----------------------------------------------------------------------------------


@given(body=bodies, trailing=st.binary(max_size=20), cuts=st.lists(st.integers(0, 10**6), max_size=12))
@settings(max_examples=300)
def test_decoder_exact_for_any_block_split(body: bytes, trailing: bytes, cuts: list[int]) -> None:
    wire = stuff(body) + trailing
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    decoder, out, fed_to = DataDecoder(), bytearray(), 0
    for a, b in itertools.pairwise(points):
        if decoder.done:
            break
        out += decoder.feed(wire[a:b])
        fed_to = b
    assert decoder.done
    assert bytes(out) == smtplib_expected(body)
    # Whatever was fed after the end-of-data line comes back as leftover, byte for byte.
    assert decoder.leftover == wire[len(stuff(body)) : fed_to]


def test_decoder_byte_by_byte_and_empty_message() -> None:
    decoder = DataDecoder()
    out = b"".join(bytes(decoder.feed(bytes([c]))) for c in b".\r\n")
    assert decoder.done and out == b"" and decoder.leftover == b""
    decoder = DataDecoder()
    wire = b"..a\r\n..\r\n\r\n.\r\nQUIT\r\n"
    buf = bytearray()
    for c in wire:
        if decoder.done:
            break
        buf += decoder.feed(bytes([c]))
    assert bytes(buf) == b".a\r\n.\r\n\r\n"
    assert decoder.leftover == b""  # bytes after the end line never reached the decoder here


def test_xtext_decode() -> None:
    assert xtext_decode("a+2Bb+3D") == "a+b="
    assert xtext_decode("[UNAVAILABLE]") == "[UNAVAILABLE]"
    with pytest.raises(ValueError):
        xtext_decode("a+zz")


# -- Spool ------------------------------------------------------------------------------------


def test_spool_memory_then_file(tmp_path: Path) -> None:
    with Spool(tmp_path, memory_limit=10) as spool:
        spool.write(b"0123456789")
        assert spool.in_memory and spool.path is None and spool.size == 10
        spool.write(memoryview(b"abc"))
        assert not spool.in_memory and spool.path is not None
        assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
        assert spool.getvalue() == b"0123456789abc" and spool.head(4) == b"0123"
        with spool.open() as f1, spool.open() as f2:
            assert f1.read(3) == b"012" and f2.read() == b"0123456789abc"
        path = spool.path
    assert not path.exists()
    spool.close()  # idempotent


def test_spool_to_file_and_persist(tmp_path: Path) -> None:
    dest_dir = tmp_path / "keep"
    dest_dir.mkdir()
    for limit in (0, 100):  # spilled / in memory
        spool = Spool(tmp_path, memory_limit=limit)
        spool.write(b"hello\r\n")
        dest = dest_dir / f"m{limit}.eml"
        spool.persist(dest)
        spool.close()
        assert dest.read_bytes() == b"hello\r\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]  # no temp file left
    spool = Spool(tmp_path, memory_limit=100)
    spool.write(b"x")
    path = spool.to_file()
    assert not spool.in_memory and path.read_bytes() == b"x"
    spool.close()
    assert not path.exists()


# -- the round trip -------------------------------------------------------------------------------


def send_and_check(stack: Stack, port: int, handler: RelayHandler, body: bytes) -> Seen:
    stack.reset()
    handler.seen.clear()
    with client(port) as smtp:
        refused = smtp.sendmail("a@example.org", ["b@example.net"], body)
    assert refused == {}
    (seen,) = handler.seen
    (env,) = stack.sink.received
    assert env.content == smtplib_expected(body)
    assert seen.size == len(smtplib_expected(body))
    assert env.mail_from == "a@example.org" and env.rcpt_tos == ["b@example.net"]
    return seen


@given(body=bodies)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_exact_bytes(stack: Stack, main_filter: tuple[int, RelayHandler], body: bytes) -> None:
    port, handler = main_filter
    send_and_check(stack, port, handler, body)


@pytest.mark.parametrize("size", [0, 1, TINY_MEMORY - 2, TINY_MEMORY, TINY_MEMORY + 1, 300_000])
def test_round_trip_both_spool_modes(stack: Stack, main_filter: tuple[int, RelayHandler], size: int) -> None:
    port, handler = main_filter
    line = b".dot-stuffed line " + b"x" * 60 + b"\r\n"
    body = (line * (size // len(line) + 1))[:size]
    seen = send_and_check(stack, port, handler, body)
    assert seen.in_memory == (len(smtplib_expected(body)) <= TINY_MEMORY)
    assert seen.path_existed == (not seen.in_memory)
    assert list(stack.spool_dir.iterdir()) == []  # closed after the hook


def test_mail_options_and_size_passed_through(stack: Stack, main_filter: tuple[int, RelayHandler]) -> None:
    port, _ = main_filter
    stack.reset()
    with client(port) as smtp:
        smtp.sendmail("ä@example.org", ["b@example.net"], b"Subject: x\r\n\r\n\xc3\xa4\r\n",
                      mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (env,) = stack.sink.received
    assert env.mail_from == "ä@example.org"
    assert "SMTPUTF8" in env.mail_options and "BODY=8BITMIME" in env.mail_options
    # smtplib's SIZE= went to the filter; the sink got ours (it advertises no SIZE: limit None).
    assert not any(o.startswith("SIZE=") for o in env.mail_options)


def test_pipelined_bytes_after_end_of_data_are_kept(
    stack: Stack, main_filter: tuple[int, RelayHandler]
) -> None:
    port, _ = main_filter
    stack.reset()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        s.sendall(b"HELO client.test\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\n")
        assert [f.readline()[:3] for _ in range(3)] == [b"250"] * 3
        # DATA, the body and the next commands in one write (the body before the 354 even).
        s.sendall(b"DATA\r\n..one\r\n.\r\nMAIL FROM:<c@x.org>\r\nRCPT TO:<d@y.org>\r\nDATA\r\n")
        assert [f.readline()[:3] for _ in range(5)] == [b"354", b"250", b"250", b"250", b"354"]
        s.sendall(b"two\r\n.\r\nQUIT\r\n")
        assert [f.readline()[:3] for _ in range(2)] == [b"250", b"221"]
    assert [e.content for e in stack.sink.received] == [b".one\r\n", b"two\r\n"]


# -- limits, errors, connection loss -------------------------------------------------------------


def test_over_limit_552_and_session_stays_usable(stack: Stack) -> None:
    port, handler = stack.start_filter(data_size_limit=10_000)
    stack.reset()
    with client(port) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250 and smtp.esmtp_features["size"] == "10000"
        assert "xforward" in smtp.esmtp_features
        smtp.mail("a@example.org")  # no SIZE=, so only DATA can notice
        smtp.rcpt("b@example.net")
        code, msg = smtp.data(b"x" * 100 + b"\r\n" + b"y" * 20_000 + b"\r\n")
        assert (code, msg) == (552, b"5.3.4 Error: Too much mail data")
        assert list(stack.spool_dir.iterdir()) == []
        assert smtp.sendmail("a@example.org", ["b@example.net"], b"small\r\n") == {}
    assert [s.size for s in handler.seen] == [7]
    assert [e.content for e in stack.sink.received] == [b"small\r\n"]


def test_unwritable_spool_gives_451_and_session_stays_usable(stack: Stack, tmp_path: Path) -> None:
    # A missing directory stands in for a full disk (chmod does not stop root).
    port, handler = stack.start_filter(memory_limit=100, spool_dir=tmp_path / "missing")
    with client(port) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.org")
        smtp.rcpt("b@example.net")
        code, _ = smtp.data(b"x" * 1000 + b"\r\n")  # the spill to a file fails
        assert code == 451 and handler.seen == []
        assert smtp.sendmail("a@example.org", ["b@example.net"], b"y" * 50 + b"\r\n") == {}
    assert [s.size for s in handler.seen] == [52]


def test_data_precheck_replies(stack: Stack, main_filter: tuple[int, RelayHandler]) -> None:
    port, _ = main_filter
    with client(port) as smtp:
        assert smtp.docmd("DATA")[0] == 503  # no HELO
        smtp.ehlo()
        assert smtp.docmd("DATA") == (503, b"Error: need RCPT command")
        smtp.mail("a@example.org")
        smtp.rcpt("b@example.net")
        assert smtp.docmd("DATA", "junk") == (501, b"Syntax: DATA")


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_connection_lost_mid_data_leaves_no_spool_file(stack: Stack, main_filter: tuple[int, RelayHandler],
                                                       how: str) -> None:
    port, handler = main_filter
    handler.seen.clear()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO client.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    s.sendall(b"MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n")
    assert [f.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
    s.sendall(b"z" * 50_000 + b"\r\n")
    assert wait_for(lambda: len(list(stack.spool_dir.iterdir())) == 1)  # spilled to a file
    if how == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    f.close()
    s.close()
    assert wait_for(lambda: list(stack.spool_dir.iterdir()) == [])
    assert handler.seen == []


def test_handler_exception_and_persist(stack: Stack, tmp_path: Path) -> None:
    class Handler(RelayHandler):
        async def handle_DATA(self, server: SMTP, session: Session, envelope: SpoolEnvelope) -> str:
            assert envelope.spool is not None
            if envelope.rcpt_tos == ["boom@example.net"]:
                raise RuntimeError("boom")
            envelope.spool.persist(tmp_path / "kept.eml")
            return "250 2.0.0 Ok: kept"

    port, _ = stack.start_filter(handler=Handler(stack.sink_port, stack.executor), memory_limit=0)
    with client(port) as smtp:
        smtp.ehlo()
        smtp.mail("a@example.org")
        smtp.rcpt("boom@example.net")
        assert smtp.data(b"one\r\n")[0] == 451  # handle_exception's reply, not stock's 500
        assert list(stack.spool_dir.iterdir()) == []
        # The transaction was reset even though the hook raised: a new MAIL is accepted.
        assert smtp.sendmail("a@example.org", ["b@example.net"], b".two\r\n") == {}
    assert (tmp_path / "kept.eml").read_bytes() == b".two\r\n"
    assert list(stack.spool_dir.iterdir()) == []


# -- XFORWARD ---------------------------------------------------------------------------------


def test_xforward(stack: Stack, main_filter: tuple[int, RelayHandler]) -> None:
    port, handler = main_filter
    handler.seen.clear()
    with client(port) as smtp:
        assert smtp.docmd("XFORWARD", "ADDR=1.2.3.4")[0] == 503  # EHLO first
        smtp.ehlo()
        assert smtp.esmtp_features["xforward"] == "NAME ADDR PROTO HELO SOURCE PORT IDENT"
        assert smtp.docmd("XFORWARD", "NAME=mx.example.org ADDR=203.0.113.7 PORT=4711") == (250, b"2.0.0 Ok")
        # Postfix splits long attribute lists over several commands; values are xtext.
        ok = smtp.docmd("XFORWARD", "proto=ESMTP HELO=[UNAVAILABLE] IDENT=4Xyz+2B1 SOURCE=REMOTE")
        assert ok == (250, b"2.0.0 Ok")
        assert smtp.docmd("XFORWARD", "FOO=bar")[0:1] == (501,)
        assert smtp.docmd("XFORWARD", "FOO=bar")[1].startswith(b"5.5.4 Bad XFORWARD attribute name")
        assert smtp.docmd("XFORWARD", "ADDR")[0] == 501
        assert smtp.docmd("XFORWARD")[0] == 501
        smtp.mail("a@example.org")
        assert smtp.docmd("XFORWARD", "ADDR=9.9.9.9") == (503, b"5.5.1 Error: MAIL transaction in progress")
        smtp.rcpt("b@example.net")
        assert smtp.data(b"hi\r\n")[0] == 250
        assert smtp.sendmail("a@example.org", ["b@example.net"], b"again\r\n") == {}
    first, second = handler.seen
    assert first.xforward == {"NAME": "mx.example.org", "ADDR": "203.0.113.7", "PORT": "4711",
                              "PROTO": "ESMTP", "IDENT": "4Xyz+1", "SOURCE": "REMOTE"}
    assert second.xforward == {}  # reset with the transaction


def test_xforward_kept_with_handler_ehlo_hook(stack: Stack) -> None:
    class Handler(RelayHandler):
        async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                              responses: list[str]) -> list[str]:
            session.host_name = hostname
            return [*responses[:-1], "250-X-MAILMON", responses[-1]]

    port, _ = stack.start_filter(handler=Handler(stack.sink_port, stack.executor))
    with client(port) as smtp:
        smtp.ehlo()
        assert "xforward" in smtp.esmtp_features and "x-mailmon" in smtp.esmtp_features


# -- reinject -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_reinject(
    stack: Stack, port: int, rcpts: list[str], body: bytes = b"x\r\n", **kw: Any
) -> ReinjectResult:
    spool = Spool(stack.spool_dir, memory_limit=TINY_MEMORY)
    spool.write(body)

    async def go() -> ReinjectResult:
        return await reinject("127.0.0.1", port, mail_from="a@example.org", rcpt_tos=rcpts,
                              mail_options=["SIZE=3", "BODY=8BITMIME"], spool=spool, timeout=10,
                              local_hostname="filter.test", executor=stack.executor, **kw)

    try:
        return stack.lt.run(go())
    finally:
        spool.close()


def test_reinject_closed_port_is_temporary(stack: Stack) -> None:
    with pytest.raises(ReinjectError) as info:
        run_reinject(stack, _free_port(), ["b@example.net"])
    assert info.value.temporary and info.value.code is None
    assert stack.lt.run(reinject_probe("127.0.0.1", stack.sink_port, 5)) is True
    assert stack.lt.run(reinject_probe("127.0.0.1", _free_port(), 5)) is False


def test_reinject_550_at_data_is_permanent(stack: Stack) -> None:
    stack.reset()
    stack.sink.data_reply = "550 5.7.1 Rejected by policy"
    with pytest.raises(ReinjectError) as info:
        run_reinject(stack, stack.sink_port, ["b@example.net"])
    assert not info.value.temporary and info.value.code == 550
    stack.sink.data_reply = "451 4.3.0 Try later"
    with pytest.raises(ReinjectError) as info:
        run_reinject(stack, stack.sink_port, ["b@example.net"])
    assert info.value.temporary and info.value.code == 451


def test_reinject_recipient_refusals(stack: Stack) -> None:
    stack.reset()
    stack.sink.rcpt_replies = {"bad@example.net": "550 5.1.1 No such user",
                               "later@example.net": "450 4.2.1 Busy"}
    result = run_reinject(stack, stack.sink_port, ["ok@example.net", "bad@example.net"], b".dot\r\n")
    assert result.code == 250 and result.refused == {"bad@example.net": (550, "5.1.1 No such user")}
    (env,) = stack.sink.received
    assert env.rcpt_tos == ["ok@example.net"] and env.content == b".dot\r\n"
    assert "SIZE=3" not in env.mail_options and "BODY=8BITMIME" in env.mail_options

    with pytest.raises(ReinjectError) as info:  # every recipient 5xx: permanent
        run_reinject(stack, stack.sink_port, ["bad@example.net"])
    assert not info.value.temporary and info.value.code == 550
    with pytest.raises(ReinjectError) as info:  # all refused, one of them 4xx: retry
        run_reinject(stack, stack.sink_port, ["bad@example.net", "later@example.net"])
    assert info.value.temporary and info.value.code == 450
    stack.sink.received.clear()
    with pytest.raises(ReinjectError) as info:  # partial 4xx with all_or_nothing: nothing sent
        run_reinject(stack, stack.sink_port, ["ok@example.net", "later@example.net"], all_or_nothing=True)
    assert info.value.temporary and stack.sink.received == []


def test_reinject_prepend_and_missing_final_crlf(stack: Stack) -> None:
    stack.reset()
    run_reinject(stack, stack.sink_port, ["b@example.net"], b".starts with a dot",
                 prepend=b"X-Mailmon: ok\r\n")
    assert stack.sink.received[0].content == b"X-Mailmon: ok\r\n.starts with a dot\r\n"


@pytest.mark.parametrize("shift", [-3, -2, -1, 0, 1])
def test_reinject_stuffing_across_chunk_boundary(stack: Stack, shift: int) -> None:
    # Put a "CRLF ." exactly around the 256 KiB boundary between two spool reads.
    head = b"a" * (CHUNK - 2 + shift) + b"\r\n"
    body = head + b".x\r\n..y\r\n"
    stack.reset()
    run_reinject(stack, stack.sink_port, ["b@example.net"], body)
    assert stack.sink.received[0].content == body


def test_command_line_limit_restored_after_data(stack: Stack, main_filter: tuple[int, RelayHandler]) -> None:
    port, _ = main_filter
    with client(port) as smtp:
        assert smtp.sendmail("a@example.org", ["b@example.net"], b"x" * 5000 + b"\r\n") == {}
        assert smtp.docmd("NOOP", "y" * 3000)[0] == 500  # still the 1001-byte command limit
        assert smtp.noop()[0] == 250


# -- a 41 MB message with a base64 attachment ------------------------------------------------------


def test_41mb_message_spooled_to_disk(stack: Stack) -> None:
    port, handler = stack.start_filter(data_size_limit=64 * 2**20, memory_limit=2**20)
    stack.reset()
    payload = base64.encodebytes(os.urandom(30 * 2**20)).replace(b"\n", b"\r\n")  # 76-char lines
    body = (
        b"From: a@example.org\r\nTo: b@example.net\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
        b".see attachment\r\n--B\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--B--\r\n"
    )
    assert len(body) > 41_000_000
    digest = hashlib.sha256(body).hexdigest()
    with client(port) as smtp:
        assert smtp.sendmail("a@example.org", ["b@example.net"], body) == {}
    del body, payload
    (seen,) = handler.seen
    assert not seen.in_memory and seen.path_existed and seen.path is not None
    assert seen.path.parent == stack.spool_dir and not seen.path.exists()
    (env,) = stack.sink.received
    assert isinstance(env.content, bytes) and hashlib.sha256(env.content).hexdigest() == digest
    stack.sink.received.clear()
