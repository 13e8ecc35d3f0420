"""A nearly full spool: below [filter] spool_min_free_bytes, MAIL gets 452 4.3.1 and Postfix keeps
the message; once there is room again it is delivered. The spool is a real 16 MiB tmpfs."""

from __future__ import annotations

import contextlib
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstack import MailStack
from tests.conftest import FilterFactory
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

VANPHONG = "vanphong@example.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
MiB = 2**20


@contextlib.contextmanager
def small_filesystem(where: Path, size_mib: int) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(where)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_below_the_floor_mail_waits_in_postfix_then_goes(
    stack: MailStack, run_filter: FilterFactory, tmp_path: Path
) -> None:
    with small_filesystem(tmp_path / "spool", 16) as spool:
        run_filter(spool_min_free_bytes=8 * MiB)
        filler = spool / "filler"
        filler.write_bytes(b"\0" * (10 * MiB))  # 6 MiB left, under the 8 MiB floor
        stack.send(message("dia day", sender=HOANT, to=VANPHONG), HOANT, [VANPHONG])
        reasons = lambda: [r.get("delay_reason", "") for q in stack.queue() for r in q["recipients"]]  # noqa: E731
        stack.wait_until(lambda: any("4.3.1" in r for r in reasons()), 30, "Postfix to defer the message with 4.3.1")
        assert not stack.delivered(VANPHONG)

        filler.unlink()
        stack.flush_queue()
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery once there is room")
        assert not stack.queue()

        # With room for the floor, a declared SIZE that would eat into it is refused at MAIL too.
        with smtplib.SMTP("127.0.0.1", stack.ports.filter, timeout=30) as client:
            client.ehlo()
            code, text = client.docmd("MAIL", f"FROM:<{HOANT}> SIZE={10 * MiB}")
            assert code == 452 and text.startswith(b"4.3.1"), (code, text)
            assert client.docmd("MAIL", f"FROM:<{HOANT}> SIZE=2000")[0] == 250
