"""Slow and many clients: a connection cap, idle timeouts per command and during DATA, against
`mailmon filter` as a real process; mail from a well-behaved client still goes through."""

from __future__ import annotations

import socket

import pytest

from mailstack import MailStack
from tests.conftest import FilterFactory
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

VANPHONG = "vanphong@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (30 s at most per read)."""
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_500_idle_connections_are_capped_then_timed_out(stack: MailStack, run_filter: FilterFactory) -> None:
    # The idle time is long enough for the whole flood to be greeted before the first slot frees up.
    run_filter(max_connections=50, command_timeout_seconds=10.0)
    sockets = [socket.create_connection(("127.0.0.1", stack.ports.filter), timeout=30) for _ in range(500)]
    try:
        greetings = [s.recv(200) for s in sockets]
        admitted = [s for s, g in zip(sockets, greetings, strict=True) if g.startswith(b"220")]
        turned_away = [g for g in greetings if g.startswith(b"421 4.7.0")]
        assert len(admitted) == 50 and len(turned_away) == 450, {g[:20] for g in greetings}
        # The admitted ones say nothing: each is told 421 4.4.2 after the idle time and closed.
        for s in admitted:
            assert read_until_closed(s).startswith(b"421 4.4.2")
    finally:
        for s in sockets:
            s.close()
    # The slots are free again: a real client's mail goes through.
    stack.send(message("sau khi het", sender=HOANT, to=VANPHONG), HOANT, [VANPHONG], port=stack.ports.filter)
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "the message after the idle flood")


def test_a_client_that_stalls_in_data_is_cut_and_leaves_no_spool_file(
    stack: MailStack, run_filter: FilterFactory
) -> None:
    proc = run_filter(data_timeout_seconds=2.0, spool_memory_bytes=0)
    spool = proc.config.parent / "spool"
    with socket.create_connection(("127.0.0.1", stack.ports.filter), timeout=30) as s:
        replies = s.makefile("rb")

        def say(command: str) -> bytes:
            s.sendall(command.encode() + b"\r\n")
            while (line := replies.readline())[3:4] == b"-":
                pass
            return line

        assert replies.readline().startswith(b"220")
        for command in ("EHLO slow.test", f"MAIL FROM:<{HOANT}>", f"RCPT TO:<{VANPHONG}>", "DATA"):
            assert say(command)[:1] in (b"2", b"3")
        s.sendall(b"Subject: slow\r\n\r\nmot dong roi im lang\r\n")
        assert replies.readline().startswith(b"421 4.4.2")
        assert replies.readline() == b""  # closed
    stack.wait_until(lambda: not list(spool.iterdir()), 10, "the cut message's spool file to be deleted")
