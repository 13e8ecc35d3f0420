"""The private mail stack (mailstack/) works end to end with a trivial pass-through filter."""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from mailstack import CRLF_POLICY, MailStack, ManageSieveError, Ports, StackError
from mailstack import clamd as clamd_mod

pytestmark = pytest.mark.stack

DOMAIN = "example.gov.vn"
USER = f"hoant.stttt@{DOMAIN}"
OTHER = f"vanphong@{DOMAIN}"
SENDER = "sender@partner.gov.vn"
FILTER_HEADER = "X-Test-Filter"


class PassThroughFilter:
    """aiosmtpd handler: re-inject every message into Postfix, or 550 if Subject has REJECTME."""

    def __init__(self, reinject_port: int) -> None:
        self.reinject_port = reinject_port
        self.seen: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        head = data.split(b"\r\n\r\n", 1)[0]
        self.seen.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if b"REJECTME" in head:
            return "550 5.7.1 Rejected by the test filter"
        data = f"{FILTER_HEADER}: passed\r\n".encode() + data
        with smtplib.SMTP(
            "127.0.0.1", self.reinject_port, local_hostname="filter.test", timeout=120
        ) as smtp:
            smtp.sendmail(envelope.mail_from, envelope.rcpt_tos, data)
        return "250 2.0.0 Filtered and re-injected"

    async def handle_exception(self, error: Exception) -> str:
        return f"451 4.3.0 Test filter failed: {type(error).__name__}"


class FilterServer:
    """Start/stop the pass-through filter on the stack's filter port."""

    def __init__(self, ports: Ports, data_size_limit: int) -> None:
        self.handler = PassThroughFilter(ports.reinject)
        self.port = ports.filter
        self.data_size_limit = data_size_limit
        self.controller: Controller | None = None

    def start(self) -> None:
        if self.controller is None:
            self.controller = Controller(
                self.handler,
                hostname="127.0.0.1",
                port=self.port,
                server_hostname="filter.test",
                data_size_limit=self.data_size_limit,
            )
            self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def stack_and_filter() -> Iterator[tuple[MailStack, FilterServer]]:
    root = Path(tempfile.mkdtemp(prefix="mailstack-test-"))
    stack = MailStack(root)
    filt = FilterServer(stack.ports, stack.message_size_limit)
    try:
        stack.start()
        filt.start()
        yield stack, filt
    finally:
        filt.stop()
        stack.stop()
        if not os.environ.get("MAILSTACK_KEEP_ROOT"):  # set it to inspect the logs afterwards
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack(stack_and_filter: tuple[MailStack, FilterServer]) -> MailStack:
    stack, filt = stack_and_filter
    filt.start()
    stack.clear()
    filt.handler.seen.clear()
    return stack


@pytest.fixture
def filt(stack_and_filter: tuple[MailStack, FilterServer]) -> FilterServer:
    return stack_and_filter[1]


def make_message(to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage(policy=CRLF_POLICY)
    msg["From"] = SENDER
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{time.time_ns()}@partner.gov.vn>"
    msg.set_content(body)
    return msg


def test_local_delivery_keeps_body(stack: MailStack, filt: FilterServer) -> None:
    body = "Kính gửi anh Hoà,\nBáo cáo tuần đính kèm.\n" + "dòng dài " * 200 + "\n"
    refused = stack.send(make_message(USER, "Báo cáo tuần", body), SENDER, [USER])
    assert refused == {}
    stack.wait_until(lambda: len(stack.delivered(USER)) == 1, what=f"delivery to {USER}")
    (msg,) = stack.delivered(USER)
    assert msg["Subject"] == "Báo cáo tuần"
    assert msg[FILTER_HEADER] == "passed"
    assert msg["Delivered-To"] == USER
    text = msg.get_body()
    assert text is not None
    assert text.get_content().replace("\r\n", "\n") == body
    assert filt.handler.seen == [(SENDER, [USER])]


def test_external_mail_reaches_sink(stack: MailStack) -> None:
    stack.send(make_message("someone@gmail.com", "ra ngoài", "hello\n"), SENDER,
               ["someone@gmail.com"])
    stack.wait_until(lambda: len(stack.sink_messages()) == 1, what="message at the sink")
    (captured,) = stack.sink_messages()
    assert captured.mail_from == SENDER
    assert captured.rcpt_tos == ["someone@gmail.com"]
    assert captured.message[FILTER_HEADER] == "passed"
    assert captured.message["Subject"] == "ra ngoài"
    assert captured.raw.endswith(b"\r\n")


def test_filter_down_defers_then_flush_delivers(stack: MailStack, filt: FilterServer) -> None:
    filt.stop()
    stack.send(make_message(OTHER, "deferred", "later\n"), SENDER, [OTHER])

    def deferred() -> bool:
        return any(item["queue_name"] == "deferred" for item in stack.queue())

    stack.wait_until(deferred, what="the message in the deferred queue")
    (item,) = stack.queue()
    assert item["recipients"][0]["address"] == OTHER
    assert "refused" in item["recipients"][0]["delay_reason"]
    assert stack.delivered(OTHER) == []

    filt.start()
    stack.flush_queue()
    stack.wait_until(lambda: len(stack.delivered(OTHER)) == 1, what="delivery after the flush")
    stack.wait_until(lambda: stack.queue() == [], what="an empty queue")


def test_sieve_redirect_goes_through_filter_to_sink(stack: MailStack, filt: FilterServer) -> None:
    with pytest.raises(ManageSieveError, match="unknown command 'redirec'"):
        stack.put_sieve_script(OTHER, "broken", 'redirec "someone@gmail.com";\n')
    stack.put_sieve_script(OTHER, "chuyentiep", 'redirect "someone@gmail.com";\n')
    with stack.managesieve(OTHER, as_master=True) as ms:
        assert ms.listscripts() == {"chuyentiep": True}
    stack.send(make_message(OTHER, "sẽ chuyển tiếp", "forward me\n"), SENDER, [OTHER])
    stack.wait_until(lambda: len(stack.sink_messages()) == 1, what="the redirected copy")
    (copy,) = stack.sink_messages()
    assert copy.rcpt_tos == ["someone@gmail.com"]
    assert copy.mail_from == SENDER  # sieve_redirect_envelope_from = sender
    assert copy.message["X-Sieve-Redirected-From"] == OTHER
    # once on the way in, once more when Dovecot submitted the redirect through Postfix
    assert copy.message.get_all(FILTER_HEADER) == ["passed", "passed"]
    assert filt.handler.seen == [(SENDER, [OTHER]), (SENDER, ["someone@gmail.com"])]
    assert stack.delivered(OTHER) == []


def test_before_queue_reject_reaches_client(stack: MailStack) -> None:
    port = stack.ports.smtp_prequeue
    with pytest.raises(smtplib.SMTPDataError) as info:
        stack.send(make_message(USER, "REJECTME please", "x\n"), SENDER, [USER], port=port)
    assert info.value.smtp_code == 550
    assert b"Rejected by the test filter" in info.value.smtp_error
    stack.send(make_message(USER, "accepted", "y\n"), SENDER, [USER], port=port)
    stack.wait_until(lambda: len(stack.delivered(USER)) == 1, what="before-queue delivery")
    assert stack.delivered(USER)[0]["Subject"] == "accepted"
    assert stack.queue() == []


def test_imap_master_login_logged_and_kept_apart_in_last_login(stack: MailStack) -> None:
    conn = stack.imap(USER, as_master=True)
    try:
        typ, _ = conn.select("INBOX", readonly=True)
        assert typ == "OK"
    finally:
        conn.logout()

    def logged() -> bool:
        log = stack.dovecot_log.read_text()
        return f"user=<{USER}>" in log and "orig_user=<monitor>" in log

    stack.wait_until(logged, what="the master login line in the Dovecot log")
    stack.wait_until(
        (stack.dovecot.master_login_dir / "last-login" / USER).exists,
        what="the master login's key in its own dict",
    )
    stack.imap(OTHER).logout()  # the owner's login
    stack.wait_until(
        lambda: stack.last_login_dict.exists() and f"shared/last-login/{OTHER}" in stack.last_login_dict.read_text(),
        what="the owner's key in the last-login dict",
    )
    assert USER not in stack.last_login_dict.read_text()
    assert "User quota" in stack.doveadm("quota", "get", "-u", USER)


def test_clear_removes_sieve_scripts(stack: MailStack) -> None:
    stack.put_sieve_script(USER, "away", 'redirect "someone@gmail.com";\n')
    stack.clear()
    stack.send(make_message(USER, "not redirected", "stay\n"), SENDER, [USER])
    stack.wait_until(lambda: len(stack.delivered(USER)) == 1, what="delivery without Sieve")
    assert stack.sink_messages() == []


def test_large_message_passes_after_queue(stack: MailStack) -> None:
    msg = make_message("someone@gmail.com", "big", "attached\n")
    payload = bytes(range(256)) * (31 * 2**20 // 256)  # 31 MiB -> ~42 MB message in base64
    msg.add_attachment(payload, maintype="application", subtype="octet-stream",
                       filename="dump.bin")
    stack.send(msg, SENDER, ["someone@gmail.com"])
    stack.wait_until(lambda: len(stack.sink_messages()) == 1, timeout=60, what="the big message")
    (captured,) = stack.sink_messages()
    assert len(captured.raw) > 42_000_000
    (att,) = list(captured.message.iter_attachments())
    assert att.get_content() == payload


def test_second_stack_with_clamd_coexists(stack: MailStack) -> None:
    root = Path(tempfile.mkdtemp(prefix="mailstack-test-"))
    try:
        with MailStack(root, with_clamd=True) as other:
            assert other.ports != stack.ports
            assert clamd_mod.ping(other.ports.clamd)
            found = clamd_mod.instream(other.ports.clamd, b"x" * 100 + clamd_mod.eicar())
            assert found == f"stream: {clamd_mod.REPORTED_NAME} FOUND"
            assert clamd_mod.instream(other.ports.clamd, b"clean text") == "stream: OK"
            with socket.create_connection(("127.0.0.1", other.ports.smtp), timeout=5) as sock:
                assert sock.recv(100).startswith(b"220")
        for port in (other.ports.smtp, other.ports.imap, other.ports.clamd, other.ports.sink):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        # the first stack still works
        assert stack.send(make_message(USER, "still up", "z\n"), SENDER, [USER]) == {}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_untraversable_parent_is_a_clear_error() -> None:
    parent = Path(tempfile.mkdtemp(prefix="mailstack-private-"))  # 0700
    try:
        stack = MailStack(parent / "root")
        with pytest.raises(StackError, match="not traversable"):
            stack.start()
        assert not stack.started
    finally:
        shutil.rmtree(parent, ignore_errors=True)
