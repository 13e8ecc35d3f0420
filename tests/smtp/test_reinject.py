"""Re-injection connections are kept and reused; a kept one the server closed is replaced safely."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailstack import MailStack
from monitor.smtp.reinject import Sessions, reinject
from monitor.smtp.spool import Spool

VANPHONG = "vanphong@example.gov.vn"


def spool_of(tmp_path: Path, subject: str) -> Spool:
    spool = Spool(tmp_path)
    spool.write(f"From: a@example.gov.vn\r\nTo: {VANPHONG}\r\nSubject: {subject}\r\n\r\nXin chao\r\n".encode())
    return spool


def send(port: int, spool: Spool, sessions: Sessions) -> int:
    result = asyncio.run(
        reinject(
            "127.0.0.1",
            port,
            mail_from="a@example.gov.vn",
            rcpt_tos=[VANPHONG],
            mail_options=[],
            spool=spool,
            timeout=10,
            local_hostname="mailmon.test",
            sessions=sessions,
        )
    )
    return result.code


@pytest.mark.stack
def test_postfix_gets_two_messages_over_one_kept_connection(stack: MailStack, tmp_path: Path) -> None:
    sessions = Sessions()
    try:
        assert send(stack.ports.reinject, spool_of(tmp_path, "mot"), sessions) == 250
        kept = sessions.take("127.0.0.1", stack.ports.reinject)
        assert kept is not None
        sessions.give("127.0.0.1", stack.ports.reinject, kept)
        assert send(stack.ports.reinject, spool_of(tmp_path, "hai"), sessions) == 250
        assert sessions.take("127.0.0.1", stack.ports.reinject) is kept  # the same connection again
        stack.wait_until(
            lambda: {"mot", "hai"} <= {m["Subject"] for m in stack.delivered(VANPHONG)}, 30, "both messages"
        )
    finally:
        sessions.close()


class Counting:
    def __init__(self) -> None:
        self.ehlos = 0
        self.subjects: list[str] = []

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.subjects.append(envelope.content.split(b"Subject: ")[1].split(b"\r\n")[0].decode())
        return "250 2.0.0 Ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_kept_connection_the_server_closed_is_replaced_and_the_message_delivered(tmp_path: Path) -> None:
    port, handler, sessions = free_port(), Counting(), Sessions()
    first = Controller(handler, hostname="127.0.0.1", port=port)
    first.start()
    try:
        assert send(port, spool_of(tmp_path, "mot"), sessions) == 250
    finally:
        first.stop()  # closes the kept connection from the server's side
    second = Controller(handler, hostname="127.0.0.1", port=port)
    second.start()
    try:
        assert send(port, spool_of(tmp_path, "hai"), sessions) == 250
        assert send(port, spool_of(tmp_path, "ba"), sessions) == 250
    finally:
        second.stop()
        sessions.close()
    assert handler.subjects == ["mot", "hai", "ba"]  # each once, none lost
    assert handler.ehlos == 2  # a new session after the server closed, then reuse again
