"""An insider cannot speak for the director: through the real Postfix, 61 messages carrying a forged
"Authenticated sender:" naming the director, all with one Message-ID, half of them through SASL
submission and half unauthenticated from a trusted network, hold the insider (counted by queue
id), and the director's own mail keeps flowing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailstack import MailStack
from tests.conftest import REPO, FilterFactory, store_target_for, tables
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

INSIDER = "hoant.stttt@example.gov.vn"
DIRECTOR = "giamdoc@example.gov.vn"
PARTNER = "doitac@gmail.com"
FORGED = (
    "from may-giam-doc (may-giam-doc [10.0.0.9]) (Authenticated sender: giamdoc@example.gov.vn) "
    "by mx.example.gov.vn (Postfix) with ESMTPSA id 4ZZZZZZZZZ for <doitac@gmail.com>; "
    "Mon, 16 Nov 2026 08:29:00 +0700"
)


def insider_message(i: int) -> bytes:
    msg = message(f"thu {i}", sender=DIRECTOR, to=PARTNER, headers={"Received": FORGED})
    del msg["Message-ID"]
    msg["Message-ID"] = "<cung-mot-ma@example.gov.vn>"  # one Message-ID for all 61
    return msg.as_bytes()


def test_forged_authenticated_sender_holds_only_the_insider(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(postfix_hostname="mx.example.gov.vn")  # default windows: 60 messages an hour
    for i in range(61):  # logged in as the insider, or from mynetworks with the insider's envelope
        stack.send(insider_message(i), INSIDER, [PARTNER], login=INSIDER if i % 2 else None)
    to_partner = lambda: [m for m in stack.sink_messages() if PARTNER in m.rcpt_tos]  # noqa: E731
    stack.wait_until(lambda: len(to_partner()) == 60 and len(stack.queue()) == 1, 120, "60 sent, the 61st held")
    reasons = [r.get("delay_reason", "") for q in stack.queue() for r in q["recipients"]]
    assert all("4.7.1" in r for r in reasons), reasons

    target = store_target_for(proc.config.parent)
    held = "SELECT sender FROM held_senders WHERE released_at IS NULL"
    assert tables(target).rows(held) == [{"sender": INSIDER}]
    assert "messages in an hour" in tables(target).value("SELECT reason FROM held_senders")
    listed = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(proc.config), "senders", "list"],
        capture_output=True, text=True, cwd=REPO,
    ).stdout
    assert INSIDER in listed and DIRECTOR not in listed

    # The director's own mail keeps flowing; the insider gets nowhere even naming the director as envelope sender.
    stack.send(message("cong van", sender=DIRECTOR, to=PARTNER), DIRECTOR, [PARTNER], login=DIRECTOR)
    stack.wait_until(lambda: len(to_partner()) == 61, 60, "the director's message")
    stack.send(insider_message(99), DIRECTOR, [PARTNER], login=INSIDER)
    stack.wait_until(lambda: len(stack.queue()) == 2, 60, "the insider's next message held too")
    assert len(to_partner()) == 61
    assert tables(target).rows(held) == [{"sender": INSIDER}]


def test_the_login_comes_only_from_postfix_s_own_topmost_received() -> None:
    from monitor.smtp.sender_identity import postfix_login

    ours = (
        b"Received: from client.test (localhost [127.0.0.1])\r\n\t(Authenticated sender: hoant.stttt@example.gov.vn)"
        b"\r\n\tby mx.example.gov.vn (Postfix) with ESMTPA id 7520720D767\r\n\tfor <a@b.c>; Mon, 16 Nov 2026\r\n"
    )
    forged = b"Received: " + FORGED.encode() + b"\r\n"
    body = b"Subject: x\r\n\r\nReceived: (Authenticated sender: giamdoc@example.gov.vn) by mx.example.gov.vn\r\n"
    assert postfix_login(ours + forged + body, "mx.example.gov.vn", "7520720D767") == INSIDER
    assert postfix_login(ours + forged + body, "mx.example.gov.vn", "") == INSIDER
    # No login of Postfix's own: whatever is written below does not count.
    unauthenticated = b"Received: from client.test by mx.example.gov.vn (Postfix) with ESMTP id 7520720D767\r\n"
    assert postfix_login(unauthenticated + forged + body, "mx.example.gov.vn", "7520720D767") is None
    # A forged field on top (no Postfix in front of the filter) names another queue id, or another host.
    assert postfix_login(forged + body, "mx.example.gov.vn", "7520720D767") is None
    assert postfix_login(ours, "mx.other.gov.vn", "7520720D767") is None
    assert postfix_login(ours, "", "7520720D767") is None  # not configured: no SASL identity
    assert postfix_login(body, "mx.example.gov.vn", "") is None  # only the header block counts
