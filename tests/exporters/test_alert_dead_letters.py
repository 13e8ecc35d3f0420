"""One alert the relay refuses does not hold up the others: each mail is retried on its own with
backoff, a mail that breaks the session does not take the rest with it, and mails given up on sit
in a dead-letter state that the metrics show. The relay is a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from exporters.metrics.instruments import Metrics
from exporters.notify.outbox import OutboxSender, OutgoingMail, enqueue, outbox
from monitor.mailboxes.calendar import Calendar
from monitor.mailboxes.evaluate import load_account_profile
from monitor.store import Store
from tests.conftest import StoreTarget


class Relay:
    """550 for tuchoi@, 451 for tam@, 421 and a dropped connection for ngat@, 250 for the rest."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        local = address.partition("@")[0]
        if local == "tuchoi":
            return "550 5.7.1 Recipient refused by policy"
        if local == "tam":
            return "451 4.3.0 Try again later"
        if local == "ngat":
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.3.2 Closing connection"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.extend(envelope.rcpt_tos)
        return "250 2.0.0 queued"


def test_a_refused_alert_does_not_block_the_rest_and_ends_as_a_dead_letter(store_target: StoreTarget) -> None:
    relay = Relay()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    store = Store(store_target)
    try:
        now = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
        ids = {}
        for local in ("tam", "tuchoi", "ngat", "it1", "it2"):
            mail = OutgoingMail("alert", "stttt", (f"{local}@example.gov.vn",), f"canh bao {local}", "noi dung", "")
            ids[local] = enqueue(store, mail, now)
        registry = CollectorRegistry()
        metrics = Metrics(registry, version="test")
        metrics.add_store_collector(lambda: Store(store.target, migrate=False), load_account_profile("dn-2022"), Calendar(), ZoneInfo("Asia/Ho_Chi_Minh"))
        sender = OutboxSender(
            f"127.0.0.1:{port}", False, None, None, "mailmon@example.gov.vn", timeout=10, max_attempts=3,
            metrics=metrics,
        )

        first = sender.send_pending(store, now)
        # The two good alerts went out in the same run, after the refusal and the dropped session.
        assert sorted(relay.delivered) == ["it1@example.gov.vn", "it2@example.gov.vn"]
        assert sorted(first.sent) == sorted([ids["it1"], ids["it2"]])
        assert first.failed == [ids["tuchoi"]]  # 5xx: a dead letter at once
        assert sorted(first.deferred) == sorted([ids["tam"], ids["ngat"]])
        dead = lambda: registry.get_sample_value("mailmon_alert_outbox_dead_letters")  # noqa: E731
        assert dead() == 1

        # Each temporary failure is retried on its own schedule (1 min, then 2 min), then given up.
        assert sender.send_pending(store, now + timedelta(seconds=59)).deferred == []
        assert sorted(sender.send_pending(store, now + timedelta(minutes=1)).deferred) == sorted([ids["tam"], ids["ngat"]])
        third = sender.send_pending(store, now + timedelta(minutes=3))
        assert sorted(third.failed) == sorted([ids["tam"], ids["ngat"]])
        rows = {r["id"]: r for r in outbox(store)}
        assert rows[ids["tam"]]["status"] == "failed" and rows[ids["tam"]]["last_error"].startswith("gave up after 3")
        assert [rows[ids[k]]["status"] for k in ("it1", "it2")] == ["sent", "sent"]
        assert dead() == 3
        assert registry.get_sample_value("mailmon_alert_outbox_pending") == 0
        assert sender.send_pending(store, now + timedelta(days=1)).deferred == []  # never tried again
    finally:
        store.close()
        controller.stop()
