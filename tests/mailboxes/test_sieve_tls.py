"""ManageSieve's TLS decision is its own: with IMAP on loopback (no TLS needed) and ManageSieve on
another host, the master password is never sent to ManageSieve before STARTTLS."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from mailstack import MailStack
from monitor.config import load_config
from monitor.mailboxes.sweep import Poller
from tests.conftest import write_config

pytestmark = pytest.mark.stack

HOANT = "hoant.stttt@example.gov.vn"


def non_loopback_address() -> str:
    """An address of this machine that is not loopback (the route towards a documentation net)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            pytest.skip("no non-loopback IPv4 address on this machine")
        address: str = s.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback IPv4 address on this machine")
    return address


def test_managesieve_elsewhere_gets_starttls_although_imap_is_loopback(stack: MailStack, tmp_path: Path) -> None:
    heard: list[bytes] = []

    async def sieve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'"IMPLEMENTATION" "fake"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\nOK "ready"\r\n')
        while line := await reader.readline():
            heard.append(line)
            writer.write(b'NO "not here"\r\n')  # refuse STARTTLS and anything else
        writer.close()

    async def run() -> str | None:
        host = non_loopback_address()
        server = await asyncio.start_server(sieve, host, 0)
        port = server.sockets[0].getsockname()[1]
        secret = tmp_path / "master"
        secret.write_text(stack.master_user[1] + "\n")
        config = write_config(
            tmp_path,
            f'[dovecot]\nmaster_password_file = "{secret}"\n'
            f'imap = "127.0.0.1:{stack.ports.imap}"\nmanagesieve = "{host}:{port}"\n',
        )
        poller = Poller(load_config(config))
        assert poller.imap_tls is None and poller.sieve_tls is not None
        try:
            return (await poller.poll(HOANT)).error
        finally:
            server.close()
            await server.wait_closed()

    error = asyncio.run(run())
    assert error is not None and "STARTTLS" in error
    assert heard and heard[0].strip() == b"STARTTLS"
    assert not any(b"AUTHENTICATE" in line for line in heard)
