"""`mailmon run` as a real process: READY over a test NOTIFY_SOCKET, SIGHUP, SIGTERM and kill -9
in the middle of a 20 MB message — nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailstack import MailStack
from tests.conftest import FilterProcess, write_config
from tests.samples.make_samples import PE, message

pytestmark = pytest.mark.stack

PARTNER = "lanhdao@partner.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


class Notify:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if text in m:
                    return m
            try:
                self.messages.append(self.sock.recv(65536).decode("utf-8"))
            except TimeoutError:
                continue
        raise TimeoutError(f"no {text!r} from the daemon; got {self.messages}")


@pytest.fixture
def daemon(stack: MailStack, tmp_path: Path) -> Iterator[tuple[FilterProcess, Notify]]:
    stack.clear()
    notify = Notify(tmp_path / "notify.sock")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    config = write_config(
        tmp_path,
        f'[daemon]\ndrain_timeout_seconds = 30\nmetrics_listen = "127.0.0.1:{metrics_port}"\n'
        f'[alerts]\nrelay = "127.0.0.1:{stack.ports.reinject}"\nflush_interval_seconds = 5\n'
        'from_address = "mailmon@example.gov.vn"\nfallback_to = ["postmaster@example.gov.vn"]\n',
        listen=f"127.0.0.1:{stack.ports.filter}",
        reinject=f"127.0.0.1:{stack.ports.reinject}",
        workers=1,
    )
    proc = FilterProcess(
        config,
        stack.ports.filter,
        tmp_path / "run.log",
        command="run",
        env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"},
    )
    proc.start()
    proc.metrics_port = metrics_port  # type: ignore[attr-defined]
    yield proc, notify
    proc.stop()
    notify.sock.close()


def delivered(stack: MailStack, token: str) -> int:
    return sum(1 for m in stack.delivered(VANPHONG) if token in str(m.get("Message-ID", "")))


def test_ready_status_and_watchdog(daemon: tuple[FilterProcess, Notify]) -> None:
    _, notify = daemon
    ready = notify.wait_for("READY=1")
    assert "STATUS=Đang lọc" in ready  # UTF-8 status text reaches systemd intact
    notify.wait_for("WATCHDOG=1", timeout=5)


def test_sighup_with_a_bad_config_keeps_the_old_one(stack: MailStack, daemon: tuple[FilterProcess, Notify]) -> None:
    proc, notify = daemon
    notify.wait_for("READY=1")
    good = proc.config.read_text()
    proc.config.write_text(good + '\n[filter]\nworkers = "many"\n')
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGHUP)
    notify.wait_for("new config refused")
    assert "reload refused" in proc.logs()
    stack.send(message("sau reload", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery on the old config")
    # A good config is swapped in: executables become "tag" and pass with headers.
    proc.config.write_text(good.replace("[filter]", '[rules.executable-attachment]\naction = "tag"\n[filter]', 1))
    proc.proc.send_signal(signal.SIGHUP)
    stack.wait_until(lambda: "new configuration in effect" in proc.logs(), 30, "the reload")
    stack.send(
        message("exe", sender=PARTNER, to=VANPHONG, attachments=[("a.exe", PE, "application/octet-stream")]),
        PARTNER,
        [VANPHONG],
    )
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 2, 30, "the tagged delivery")
    assert any("executable-attachment" in str(m.get("X-Mailmon-Finding", "")) for m in stack.delivered(VANPHONG))


def big_message(token: str) -> bytes:
    msg = message(
        "20 MB",
        sender=PARTNER,
        to=VANPHONG,
        attachments=[("so-lieu.pdf", b"%PDF" + os.urandom(20 * 2**20), "application/pdf")],
    )
    del msg["Message-ID"]
    msg["Message-ID"] = f"<{token}@test.example.gov.vn>"
    return msg.as_bytes()


def wait_for_spool(proc: FilterProcess) -> None:
    spool = proc.config.parent / "spool"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if spool.exists() and any(spool.iterdir()):
            return
        time.sleep(0.005)
    raise TimeoutError("the 20 MB message never reached the spool")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_stop_in_the_middle_of_a_20_mb_message(
    stack: MailStack, daemon: tuple[FilterProcess, Notify], how: str
) -> None:
    proc, notify = daemon
    notify.wait_for("READY=1")
    token = f"big-{how}"
    stack.send(big_message(token), PARTNER, [VANPHONG])
    wait_for_spool(proc)  # Postfix is streaming it into the filter right now
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
    if how == "SIGTERM":
        proc.proc.send_signal(signal.SIGTERM)  # a second signal is harmless
        assert proc.proc.wait(timeout=90) == 0
    else:
        proc.proc.wait(timeout=30)
    proc.proc = None
    proc.start()
    stack.flush_queue()
    stack.wait_until(lambda: delivered(stack, token) >= 1, 90, "the 20 MB message after the restart")
    stack.wait_until(lambda: not stack.queue(), 60, "an empty queue")
    time.sleep(1)  # let any duplicate show itself
    count = delivered(stack, token)
    if how == "SIGTERM":
        assert count == 1
    else:
        assert count >= 1  # kill -9 loses nothing (a duplicate is possible after a kill -9)
    spool = proc.config.parent / "spool"
    assert not [p for p in spool.iterdir() if p.is_file()]  # a crash's leftovers are cleaned at start


def test_metrics_after_a_filtered_message(stack: MailStack, daemon: tuple[FilterProcess, Notify]) -> None:
    import urllib.request

    proc, notify = daemon
    notify.wait_for("READY=1")
    stack.send(message("đếm", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    stack.wait_until(lambda: len(stack.delivered(VANPHONG)) == 1, 30, "delivery")
    url = f"http://127.0.0.1:{proc.metrics_port}/metrics"  # type: ignore[attr-defined]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'mailmon_messages_total{direction="inbound",verdict="pass"} 1.0' in text
    assert "mailmon_build_info" in text and "mailmon_quarantine_messages" in text


def test_connections_open_and_refused_at_the_cap_are_exported(
    stack: MailStack, daemon: tuple[FilterProcess, Notify]
) -> None:
    """Past [filter] max_connections (100 by default) a client is told 421 4.7.0, and the metrics say so."""
    import urllib.request

    proc, notify = daemon
    notify.wait_for("READY=1")
    url = f"http://127.0.0.1:{proc.metrics_port}/metrics"  # type: ignore[attr-defined]

    def scraped(name: str) -> float:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))

    assert scraped("mailmon_filter_connections_refused_total") == 0
    sockets: list[socket.socket] = []
    turned_away = 0
    try:
        while turned_away < 3 and len(sockets) < 150:
            s = socket.create_connection(("127.0.0.1", stack.ports.filter), timeout=30)
            sockets.append(s)
            if s.recv(200).startswith(b"421 4.7.0"):
                turned_away += 1
        assert turned_away == 3, f"no 421 after {len(sockets)} connections"
        assert scraped("mailmon_filter_connections_open") == 100  # the cap, every one of them idle
        assert scraped("mailmon_filter_connections_refused_total") == 3
    finally:
        for s in sockets:
            s.close()
    stack.wait_until(lambda: scraped("mailmon_filter_connections_open") == 0, 30, "the connections to close")


def test_urgent_finding_alerts_the_it_contact(stack: MailStack, daemon: tuple[FilterProcess, Notify]) -> None:
    _, notify = daemon
    notify.wait_for("READY=1")
    time.sleep(3)  # the alerts job's first run marks where the alert history starts
    stack.send(message("TỐI MẬT - Phương án", sender=PARTNER, to=VANPHONG), PARTNER, [VANPHONG])
    postmaster = "postmaster@example.gov.vn"
    stack.wait_until(lambda: len(stack.delivered(postmaster)) >= 1, 60, "the alert mail")
    alert = stack.delivered(postmaster)[0]
    text = alert.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "classified-content" in text or "DN-2022 Đ13.7" in text
    assert not stack.delivered(VANPHONG)  # the message itself is in quarantine
