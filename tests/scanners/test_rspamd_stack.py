"""Content scoring through a real rspamd (started once for this module: its cold start is slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstack import MailStack
from mailstack.rspamd import GTUBE
from tests.conftest import REPO, USERS, FilterProcess, store_target_for, write_config
from tests.samples.make_samples import message

pytestmark = pytest.mark.stack

HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


@pytest.fixture(scope="module")
def spam_stack() -> Iterator[MailStack]:
    if shutil.which("rspamd") is None:
        pytest.skip("rspamd is not installed (scripts/setup installs it)")
    root = Path(tempfile.mkdtemp(prefix="mailmon-rspamd-"))
    root.chmod(0o755)
    stack = MailStack(root, users=USERS, with_rspamd=True)
    stack.start()
    yield stack
    stack.stop()
    shutil.rmtree(root, ignore_errors=True)


def spam_config(stack: MailStack, tmp_path: Path, url: str | None = None) -> Path:
    assert stack.rspamd is not None
    extra = f'[rspamd]\nurl = "{url or stack.rspamd.url}"\ntimeout_seconds = 5\n'
    return write_config(
        tmp_path,
        extra,
        listen=f"127.0.0.1:{stack.ports.filter}",
        reinject=f"127.0.0.1:{stack.ports.reinject}",
        workers=1,
    )


def test_scan_reports_gtube_as_spam(spam_stack: MailStack, tmp_path: Path) -> None:
    eml = tmp_path / "gtube.eml"
    eml.write_bytes(message("Khuyến mãi", sender=HOANT, to="khach@gmail.com", body=GTUBE + "\n").as_bytes())
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "scan",
            "--config",
            str(spam_config(spam_stack, tmp_path)),
            "--mail-from",
            HOANT,
            "--rcpt",
            "khach@gmail.com",
            "--json",
            str(eml),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    spam = [v for v in result["violations"] if v["rule"] == "spam"]
    assert spam and "GTUBE" in spam[0]["detail"]
    assert result["verdict"] == "quarantine"


def test_outbound_spam_is_quarantined_inbound_is_tagged(spam_stack: MailStack, tmp_path: Path) -> None:
    spam_stack.clear()
    proc = FilterProcess(spam_config(spam_stack, tmp_path), spam_stack.ports.filter, tmp_path / "f.log")
    proc.start()
    try:
        spam_stack.send(
            message("QC", sender=HOANT, to="khach@gmail.com", body=GTUBE + "\n"), HOANT, ["khach@gmail.com"]
        )
        spam_stack.send(
            message("Trúng thưởng", sender="la@example.com", to=VANPHONG, body=GTUBE + "\n"),
            "la@example.com",
            [VANPHONG],
        )
        spam_stack.wait_until(
            lambda: len(spam_stack.delivered(VANPHONG)) == 1 and not spam_stack.queue(), 60, "the inbound message"
        )
        inbound = spam_stack.delivered(VANPHONG)[0]
        assert inbound["X-Mailmon-Spam"] == "yes"
        assert not [m for m in spam_stack.sink_messages() if "khach@gmail.com" in m.rcpt_tos]
        from monitor.store import Store

        held = Store(store_target_for(tmp_path)).quarantine.entries()
        assert len(held) == 1 and "spam" in held[0]["reason"]
    finally:
        proc.stop()


def test_rspamd_down_fails_open_with_a_header(spam_stack: MailStack, tmp_path: Path) -> None:
    spam_stack.clear()
    proc = FilterProcess(
        spam_config(spam_stack, tmp_path, url="http://127.0.0.1:9"), spam_stack.ports.filter, tmp_path / "f.log"
    )
    proc.start()
    try:
        spam_stack.send(message("Bình thường", sender="a@partner.gov.vn", to=VANPHONG), "a@partner.gov.vn", [VANPHONG])
        spam_stack.wait_until(lambda: len(spam_stack.delivered(VANPHONG)) == 1, 30, "delivery without rspamd")
        assert "not scanned" in spam_stack.delivered(VANPHONG)[0]["X-Mailmon-Spam-Scan"]
    finally:
        proc.stop()


# -- a recipient with a non-ASCII address, and the count of unscored messages ---------------------

NON_ASCII = "nguyễn.văn.an@gmail.com"


def test_the_client_sends_a_non_ascii_recipient_as_rspamd_expects(spam_stack: MailStack) -> None:
    from monitor.scanners import rspamd

    assert spam_stack.rspamd is not None
    body = message("Khuyến mãi", sender=HOANT, to=NON_ASCII, body=GTUBE + "\n").as_bytes()
    score = rspamd.check(
        spam_stack.rspamd.url, body, len(body), mail_from="hoà.bình@example.gov.vn", rcpt_tos=[NON_ASCII, VANPHONG]
    )
    assert score.action == "reject" and "GTUBE" in " ".join(score.symbols)


def metric(port: int, name: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def run_daemon(stack: MailStack, tmp_path: Path, url: str) -> tuple[FilterProcess, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    config = spam_config(stack, tmp_path, url=url)
    config.write_text(
        config.read_text() + f'[daemon]\nmetrics_listen = "127.0.0.1:{metrics_port}"\n[alerts]\nenabled = false\n'
    )
    proc = FilterProcess(config, stack.ports.filter, tmp_path / "run.log", command="run")
    proc.start()
    return proc, metrics_port


def test_non_ascii_recipient_is_scored_through_the_filter(spam_stack: MailStack, tmp_path: Path) -> None:
    import smtplib

    spam_stack.clear()
    assert spam_stack.rspamd is not None
    proc, port = run_daemon(spam_stack, tmp_path, spam_stack.rspamd.url)
    try:
        spam = message("Khuyến mãi", sender=HOANT, to=NON_ASCII, body=GTUBE + "\n").as_bytes()
        with smtplib.SMTP("127.0.0.1", spam_stack.ports.filter, timeout=60) as client:
            client.sendmail(HOANT, [NON_ASCII], spam, mail_options=["SMTPUTF8"])
        from monitor.store import Store

        held = Store(store_target_for(tmp_path)).quarantine.entries()
        assert len(held) == 1 and "GTUBE" in held[0]["reason"] and held[0]["rcpt_tos"] == [NON_ASCII]
        assert metric(port, 'mailmon_spam_unscored_total{outcome="passed"}') == 0
    finally:
        proc.stop()


def test_every_unscored_message_is_counted(spam_stack: MailStack, tmp_path: Path) -> None:
    spam_stack.clear()
    proc, port = run_daemon(spam_stack, tmp_path, "http://127.0.0.1:9")  # rspamd down: fail_open
    try:
        for i in range(3):
            spam_stack.send(message(f"Thư {i}", sender="a@partner.gov.vn", to=VANPHONG), "a@partner.gov.vn", [VANPHONG])
        spam_stack.wait_until(lambda: len(spam_stack.delivered(VANPHONG)) == 3, 60, "three unscored deliveries")
        assert metric(port, 'mailmon_spam_unscored_total{outcome="passed"}') == 3
    finally:
        proc.stop()
