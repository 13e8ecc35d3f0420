"""SMTP smuggling through re-injection: a bare LF (or CR) before "." must not end the message at a
relay that takes bare line ends as line ends. Against a tiny LF-splitting server and the real Postfix
(whose smtpd_forbid_bare_newline is "no" by default in 3.7)."""

from __future__ import annotations

import asyncio
import io
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack import MailStack
from monitor.smtp import reinject as reinject_module
from monitor.smtp.reinject import crlf_lines, reinject
from monitor.smtp.spool import Spool
from tests.conftest import FilterFactory

VANPHONG = "vanphong@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"


def smuggling(line_end: bytes, dot_end: bytes) -> bytes:
    """A message whose body hides a second transaction behind ``line_end`` "." ``dot_end``."""
    hidden = (
        b"MAIL FROM:<giamdoc@example.gov.vn>\r\nRCPT TO:<" + VANPHONG.encode() + b">\r\nDATA\r\n"
        b"From: giamdoc@example.gov.vn\r\nSubject: smuggled\r\n\r\nthu gia mao\r\n"
    )
    return (
        b"From: " + HOANT.encode() + b"\r\nTo: " + VANPHONG.encode() + b"\r\nSubject: carrier\r\n\r\n"
        b"noi dung" + line_end + b"." + dot_end + hidden
    )


CASES = [(b"\n", b"\n"), (b"\n", b"\r\n"), (b"\r\n", b"\n"), (b"\r", b"\r"), (b"\r", b"\r\n")]


@dataclass
class LaxServer:
    """An SMTP server that, like many, ends a line at a bare LF, or at a bare CR too (``cr_too``)."""

    cr_too: bool = False
    messages: list[bytes] = field(default_factory=list)

    async def lines(self, reader: asyncio.StreamReader) -> list[bytes]:
        data = await reader.read(1 << 20)
        if self.cr_too:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data.split(b"\n")

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 lax.test ESMTP\r\n")
        pending: list[bytes] = []
        body: list[bytes] | None = None
        while True:
            if len(pending) <= 1:
                more = await self.lines(reader)
                if more == [b""]:
                    break
                pending = [*pending[:-1], (pending[-1] if pending else b"") + more[0], *more[1:]]
                continue
            line = pending.pop(0).rstrip(b"\r")
            if body is not None:
                if line == b".":
                    self.messages.append(b"\n".join(body))
                    body = None
                    writer.write(b"250 2.0.0 queued\r\n")
                else:
                    body.append(line[1:] if line.startswith(b".") else line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                body = []
                writer.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


def reinject_to(port: int, tmp_path: Path, data: bytes) -> int:
    async def go() -> int:
        spool = Spool(tmp_path)
        spool.write(data)
        try:
            result = await reinject(
                "127.0.0.1", port, mail_from=HOANT, rcpt_tos=[VANPHONG], mail_options=[], spool=spool,
                timeout=10, local_hostname="mailmon.test",
            )
        finally:
            spool.close()
        return result.code

    return asyncio.run(go())


@pytest.mark.parametrize("cr_too", [False, True])
@pytest.mark.parametrize(("line_end", "dot_end"), CASES)
def test_reinjection_is_one_message_at_a_lax_relay(
    tmp_path: Path, cr_too: bool, line_end: bytes, dot_end: bytes
) -> None:
    server = LaxServer(cr_too=cr_too)

    async def serve_and_send() -> None:
        listener = await asyncio.start_server(server.session, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            code = await asyncio.to_thread(reinject_to, port, tmp_path, smuggling(line_end, dot_end))
            assert code == 250
        finally:
            listener.close()
            await listener.wait_closed()

    asyncio.run(serve_and_send())
    assert len(server.messages) == 1, server.messages
    assert b"MAIL FROM:<giamdoc@example.gov.vn>" in server.messages[0]  # carried as text, harmless


@pytest.mark.stack
@pytest.mark.parametrize(("line_end", "dot_end"), [(b"\n", b"\r\n"), (b"\n", b"\n")])
def test_no_second_message_through_the_filter_into_real_postfix(
    stack: MailStack, run_filter: FilterFactory, line_end: bytes, dot_end: bytes
) -> None:
    run_filter()
    with socket.create_connection(("127.0.0.1", stack.ports.filter), timeout=30) as s:
        replies = s.makefile("rb")

        def say(data: bytes) -> bytes:
            s.sendall(data)
            while (line := replies.readline())[3:4] == b"-":
                pass
            return line

        assert replies.readline().startswith(b"220")
        for command in (b"EHLO client.test", f"MAIL FROM:<{HOANT}>".encode(), f"RCPT TO:<{VANPHONG}>".encode()):
            assert say(command + b"\r\n").startswith(b"250")
        assert say(b"DATA\r\n").startswith(b"354")
        assert say(smuggling(line_end, dot_end) + b"\r\n.\r\n").startswith(b"250")
        say(b"QUIT\r\n")
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) >= 1, 30, "the carrier message")
    stack.flush_queue()
    stack.wait_until(lambda: not stack.queue(), 30, "an empty queue")
    delivered = stack.delivered(VANPHONG)
    assert [str(m["Subject"]) for m in delivered] == ["carrier"]
    assert "MAIL FROM:<giamdoc@example.gov.vn>" in delivered[0].get_content()


class Wire:
    """Stands in for smtplib.SMTP: keeps what ``send`` was given."""

    def __init__(self) -> None:
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent += data


@given(
    body=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"a", b"..", b"\xff"]), max_size=60).map(b"".join),
    chunk=st.integers(1, 9),
)
def test_the_stream_sent_is_the_same_for_any_chunk_size(body: bytes, chunk: int) -> None:
    """Line ends made CRLF and dot-stuffing are exact across chunk boundaries."""
    expected = re.sub(rb"(?m)^\.", b"..", crlf_lines(body).replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    expected = (expected if expected.endswith(b"\r\n") or not expected else expected + b"\r\n") + b".\r\n"
    wire = Wire()
    saved = reinject_module.CHUNK
    reinject_module.CHUNK = chunk
    try:
        reinject_module._send_body(wire, io.BytesIO(body), b"")  # type: ignore[arg-type]
    finally:
        reinject_module.CHUNK = saved
    assert wire.sent == expected
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", wire.sent) is None  # no bare CR or LF left
