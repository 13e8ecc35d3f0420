"""A burst from one account through real Postfix: the sender is held (451, mail stays queued),
the finding is recorded, release lets the queue drain, nothing is lost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mailstack import MailStack
from monitor.store import Store
from tests.conftest import REPO, FilterFactory, store_target_for
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

HOANT = "hoant.stttt@example.gov.vn"

LIMITS = """[ratelimit]
cooldown_minutes = 60
[ratelimit.limits.personal]
messages_per_hour = 50
external_recipients_per_hour = 5
external_recipients_per_day = 100
"""


def test_burst_holds_the_sender_until_released(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(LIMITS)
    for i in range(8):
        stack.send(message(f"khuyến mãi {i}", sender=HOANT, to=f"khach{i}@gmail.com"), HOANT, [f"khach{i}@gmail.com"])
    outside = lambda: {r for m in stack.sink_messages() for r in m.rcpt_tos if r.startswith("khach")}  # noqa: E731
    stack.wait_until(lambda: len(outside()) == 5 and len(stack.queue()) == 3, 60, "5 sent and 3 held in the queue")
    reasons = [r.get("delay_reason", "") for q in stack.queue() for r in q["recipients"]]
    assert all("4.7.1" in r for r in reasons), reasons
    store = Store(store_target_for(proc.config.parent))
    spam = [f for f in store.messages.recent_findings() if f["rule"] == "spam"]
    assert spam and spam[0]["action"] == "hold" and "external recipients in an hour" in spam[0]["detail"]
    assert spam[0]["citation"].startswith("DN-2022 Đ13.3")

    def mailmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "--config", str(proc.config), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
        )

    assert HOANT in mailmon("senders", "list").stdout
    assert mailmon("senders", "release", HOANT).returncode == 0
    stack.flush_queue()
    stack.wait_until(lambda: len(outside()) == 8 and not stack.queue(), 60, "the held mail to go out after release")
    internal = message("nội bộ", sender=HOANT, to="vanphong@example.gov.vn")
    stack.send(internal, HOANT, ["vanphong@example.gov.vn"])
    stack.wait_until(lambda: len(stack.delivered("vanphong@example.gov.vn")) == 1, 30, "internal mail")
