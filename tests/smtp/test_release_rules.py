"""Release: only held messages by default; the kept copy of a rejected message needs --rejected-copy
and a reason, and every release is recorded with who and why. Through the real Postfix."""

from __future__ import annotations

import os

import pytest

from mailstack import MailStack
from monitor.store import Store
from tests.conftest import FilterFactory, mailmon, store_target_for
from tests.samples.make_samples import PE, message

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
VANPHONG = "vanphong@example.gov.vn"



def as_user(sudo_user: str = "") -> dict[str, str]:
    """The environment of a command run by ``sudo_user`` through sudo ('' for no sudo)."""
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    if sudo_user:
        env["SUDO_USER"] = sudo_user
    return env


def test_a_rejected_copy_needs_the_flag_and_a_reason(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter()
    exe = message("tep chay", sender=PARTNER, to=VANPHONG, attachments=[("setup.exe", PE, "application/octet-stream")])
    stack.send(exe, PARTNER, [VANPHONG])
    stack.send(message("TỐI MẬT: kế hoạch", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    store = Store(store_target_for(proc.config.parent))
    stack.wait_until(lambda: len(store.quarantine.entries(None)) == 2, 60, "a rejected copy and a held message")
    by_status = {r["status"]: r["id"] for r in store.quarantine.entries(None)}
    rejected, held = by_status["rejected"], by_status["held"]

    refused = mailmon(proc.config, "quarantine", "release", rejected, env=as_user())
    assert refused.returncode == 1 and "--rejected-copy" in refused.stderr
    no_reason = mailmon(proc.config, "quarantine", "release", rejected, "--rejected-copy", env=as_user())
    assert no_reason.returncode == 1 and "--reason" in no_reason.stderr
    assert store.quarantine.entry(rejected)["status"] == "rejected" and store.releases.of(rejected) == []
    assert not stack.delivered(VANPHONG)

    ok = mailmon(
        proc.config, "quarantine", "release", rejected, "--rejected-copy", "--reason", "đối tác gửi lại bản cài đặt",
        env=as_user("nguyen.van.a"),
    )
    assert ok.returncode == 0, ok.stderr
    assert mailmon(proc.config, "quarantine", "release", held, env=as_user()).returncode == 0
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 2, 30, "both released messages")

    [first] = store.releases.of(rejected)
    assert first["who"] == "nguyen.van.a (sudo, as root)"
    assert first["why"] == "đối tác gửi lại bản cài đặt" and first["was"] == "rejected"
    assert first["reply"].startswith("250")
    [second] = store.releases.of(held)
    assert second["was"] == "held" and second["who"]
    again = mailmon(proc.config, "quarantine", "release", held, env=as_user())
    assert again.returncode == 1 and "released" in again.stderr
    assert len(stack.delivered(VANPHONG)) == 2
