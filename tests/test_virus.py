"""Viruses through a real clamd (the stack's, with an EICAR body signature made by the tests)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailstack import MailStack, eicar
from monitor.store import Store
from tests.conftest import REPO, FilterFactory
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


def clamav(stack: MailStack, **keys: object) -> str:
    lines = ["[clamav]", "enabled = true", f'address = "127.0.0.1:{stack.ports.clamd}"', "timeout_seconds = 10"]
    lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def eicar_in_zip_in_message() -> EmailMessage:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tai-lieu/huong-dan.txt", eicar())
    inner = message("Tài liệu", sender=PARTNER, attachments=[("tai-lieu.zip", buf.getvalue(), "application/zip")])
    outer = message("Fwd: tài liệu", sender=PARTNER, to=VANPHONG)
    outer.add_attachment(inner)
    return outer


def test_eicar_attachment_is_rejected_with_the_clause(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack))
    msg = message("Báo giá", sender=HOANT, to=VANPHONG, attachments=[("bao-gia.txt", eicar(), "text/plain")])
    stack.send(msg, HOANT, [VANPHONG])
    stack.wait_until(lambda: any("virus" in m.as_string() for m in stack.delivered(HOANT)), 30, "the bounce")
    bounce = next(m for m in stack.delivered(HOANT) if "virus" in m.as_string()).as_string()
    assert "(virus, DN-2022 D13.2" in bounce
    assert not stack.delivered(VANPHONG)
    (finding,) = [f for f in Store(proc.config.parent / "mailmon.sqlite3").findings() if f["rule"] == "virus"]
    assert finding["detail"].startswith("Mailstack.Test.EICAR")


def test_eicar_in_a_zip_in_an_attached_message(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack), mode="before-queue")
    import smtplib

    with pytest.raises(smtplib.SMTPDataError) as info:
        stack.send(eicar_in_zip_in_message(), PARTNER, [VANPHONG], port=stack.ports.smtp_prequeue)
    assert info.value.smtp_code == 550 and b"(virus, DN-2022 D13.2" in info.value.smtp_error


def test_clean_mail_passes(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack))
    stack.send(message("Sạch", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery")
    assert "X-Mailmon-Virus-Scan" not in stack.delivered(VANPHONG)[0]


def test_clamd_down_fails_closed_then_delivers(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack))
    assert stack.clamd is not None
    stack.clamd.stop()
    try:
        stack.send(message("Chờ quét", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
        stack.wait_until(
            lambda: any("4.7.1" in str(r.get("delay_reason", "")) for q in stack.queue() for r in q["recipients"]),
            30,
            "a 451 4.7.1 deferral",
        )
        assert not stack.delivered(VANPHONG)
    finally:
        stack.clamd.start(time.monotonic() + 30)
    stack.flush_queue()
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1 and not stack.queue(), 30, "delivery after clamd")


def test_fail_open_passes_with_a_header(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter(clamav(stack, fail_open=True).replace(str(stack.ports.clamd), "9"))
    stack.send(message("Không quét", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery without clamd")
    assert "not scanned" in stack.delivered(VANPHONG)[0]["X-Mailmon-Virus-Scan"]


def test_over_stream_max_is_unscanned_not_a_pass(stack: MailStack, run_filter: FilterFactory) -> None:
    proc = run_filter(clamav(stack, stream_max_bytes=1048576))
    big = message(
        "Lớn", sender=PARTNER, to=VANPHONG, attachments=[("a.pdf", b"%PDF" + b"x" * 2_000_000, "application/pdf")]
    )
    stack.send(big, PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "the tagged delivery")
    assert "virus-unscanned" in str(stack.delivered(VANPHONG)[0]["X-Mailmon-Finding"])
    rules = [f["rule"] for f in Store(proc.config.parent / "mailmon.sqlite3").findings()]
    assert rules == ["virus-unscanned"]


def test_scan_cli_reports_virus(stack: MailStack, tmp_path: Path) -> None:
    from tests.conftest import write_config

    config = write_config(tmp_path, clamav(stack))
    eml = tmp_path / "v.eml"
    eml.write_bytes(eicar_in_zip_in_message().as_bytes())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "scan",
            "--config",
            str(config),
            "--json",
            "--mail-from",
            PARTNER,
            "--rcpt",
            VANPHONG,
            str(eml),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verdict"] == "reject"
    assert [v["rule"] for v in result["violations"]] == ["virus"]
    (att,) = result["attachments"]
    assert any(m["name"] == "tai-lieu/huong-dan.txt" and m["depth"] == 2 for m in att["members"])
