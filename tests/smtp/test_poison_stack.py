"""A poison message in Postfix's queue: it outlives its worker, is answered 451 and kept by Postfix,
and on the retry it is decided (quarantined as inspection-limit) instead of circling for days."""

from __future__ import annotations

import pytest

from mailstack import MailStack
from monitor.store import Store
from tests.conftest import FilterFactory, store_target_for, tables
from tests.samples.hostile_builders import many_parts

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


def deferred_reason(stack: MailStack) -> str:
    return " ".join(r.get("delay_reason", "") for q in stack.queue() for r in q.get("recipients", []))


def test_a_message_that_outlives_its_worker_twice_is_quarantined_not_retried_forever(
    stack: MailStack, run_filter: FilterFactory
) -> None:
    # 60,000 parts with the part limit lifted take a worker seconds; its deadline is a tenth of one.
    proc = run_filter("[inspection]\nmax_mime_parts = 1000000\n", worker_deadline_seconds=0.1)
    raw = many_parts(60_000).replace(b"Message-ID: <hostile@", b"Message-ID: <poison1@")
    stack.send(raw, PARTNER, [VANPHONG])
    stack.wait_until(lambda: "4.3.2" in deferred_reason(stack), 60, "the first 451 4.3.2 deferral")
    target = store_target_for(proc.config.parent)
    store = Store(target)
    (failure,) = tables(target).rows('SELECT "key", failures, reason FROM worker_failures')
    assert failure["key"].startswith("queue:") and failure["failures"] == 1
    assert "its worker process was ended" in failure["reason"]
    assert not store.quarantine.entries()

    stack.flush_queue()
    stack.wait_until(lambda: bool(store.quarantine.entries()), 60, "the message decided on its retry")
    stack.wait_until(lambda: not stack.queue(), 60, "Postfix to let go of it")
    (entry,) = store.quarantine.entries()
    assert "inspection-limit" in entry["reason"]
    assert "its worker process was ended" in entry["reason"] and "2 attempts" in entry["reason"]
    (finding,) = [f for f in store.messages.recent_findings() if f["queue_id"] == failure["key"].removeprefix("queue:")]
    assert finding["rule"] == "inspection-limit"
    assert not [m for m in stack.delivered(VANPHONG) if "poison1" in str(m.get("Message-ID", ""))]
