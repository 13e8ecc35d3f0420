"""XFORWARD is believed only from [filter] xforward_clients: anything else that reaches the port
cannot put another client's address or queue id into the logs and the store."""

from __future__ import annotations

import smtplib

import pytest

from mailstack import MailStack
from monitor.store import Store
from tests.conftest import FilterFactory, FilterProcess, store_target_for
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

VANPHONG = "vanphong@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"


def stored(proc: FilterProcess) -> list[dict[str, object]]:
    return Store(store_target_for(proc.config.parent)).messages.recent()


def send_with_xforward(port: int, source: str, subject: str) -> tuple[bool, tuple[int, bytes]]:
    """EHLO, XFORWARD naming another client and a queue id, then one message."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="forger.test", timeout=30, source_address=(source, 0)) as c:
        c.ehlo()
        advertised = c.has_extn("xforward")
        reply = c.docmd("XFORWARD", "ADDR=203.0.113.66 NAME=mx.victim.example IDENT=FORGED1")
        c.sendmail(HOANT, [VANPHONG], message(subject, sender=HOANT, to=VANPHONG).as_bytes())
    return advertised, reply


def test_xforward_from_a_peer_not_configured_is_refused_and_changes_nothing(
    stack: MailStack, run_filter: FilterFactory
) -> None:
    # 127.0.0.2 stands for Postfix here; the test's own 127.0.0.1 is just something local.
    proc = run_filter(xforward_clients=["127.0.0.2/32"])
    advertised, reply = send_with_xforward(stack.ports.filter, "127.0.0.1", "gia mao")
    assert not advertised
    assert reply[0] == 550 and b"5.7.0" in reply[1]
    row = stored(proc)[0]
    assert row["client_addr"] == "127.0.0.1" and row["queue_id"] == ""
    assert "FORGED1" not in proc.logs() and "203.0.113.66" not in proc.logs()

    advertised, reply = send_with_xforward(stack.ports.filter, "127.0.0.2", "tu postfix")
    assert advertised and reply[0] == 250
    row = stored(proc)[0]
    assert row["client_addr"] == "203.0.113.66" and row["queue_id"] == "FORGED1"
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 2, 30, "both messages delivered")


def test_postfix_on_loopback_still_forwards_its_queue_id(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()  # default xforward_clients: loopback
    stack.send(message("qua postfix", sender=HOANT, to=VANPHONG), HOANT, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery through the filter")
    row = stored(proc)[0]
    queue_id = str(row["queue_id"])
    assert queue_id and queue_id in stack.postfix_log.read_text()
