"""SIGTERM under load through the real Postfix: no transaction starts after the signal (421 on the
connections already open), the ones under way finish, and every message arrives exactly once."""

from __future__ import annotations

import re
import signal

import pytest

from mailstack import MailStack
from tests.conftest import FilterFactory
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

VANPHONG = "vanphong@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
MESSAGES = 300
POSTFIX_MAXPROC = 10  # the mailmon transport's maxproc in mailstack's master.cf


def test_sigterm_under_load_starts_no_new_transaction(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    proc.stop()  # Postfix queues the burst while the filter is down
    for i in range(MESSAGES):
        stack.send(message(f"tai {i}", sender=HOANT, to=VANPHONG), HOANT, [VANPHONG])
    proc.start()
    stack.flush_queue()
    delivered_lines = lambda: re.findall(r"delivered queue_id=", proc.logs())  # noqa: E731
    stack.wait_until(lambda: len(delivered_lines()) >= 30, 60, "the burst to be flowing")
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=90) == 0
    proc.proc = None

    run = proc.logs().rpartition("mailmon running")[2]  # this run of the filter
    before, stop, after = run.partition("SIGTERM: stopping")
    assert stop, run[-2000:]
    taken_after = len(re.findall(r"delivered queue_id=", after))
    # At most the transaction each of Postfix's connections had under way when the signal came.
    assert taken_after <= POSTFIX_MAXPROC, after[:3000]
    assert len(re.findall(r"delivered queue_id=", before)) < MESSAGES  # it was stopped under load

    proc.start()
    stack.flush_queue()
    subjects = lambda: [str(m["Subject"]) for m in stack.delivered(VANPHONG)]  # noqa: E731
    stack.wait_until(lambda: len(set(subjects())) == MESSAGES, 180, "every message after the restart")
    stack.wait_until(lambda: not stack.queue(), 60, "an empty queue")
    assert sorted(subjects()) == sorted(f"tai {i}" for i in range(MESSAGES))  # each exactly once
