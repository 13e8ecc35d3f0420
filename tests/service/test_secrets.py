"""Secrets: ${CREDENTIALS_DIRECTORY} in *_file paths as systemd's LoadCredential gives it, and the
Dovecot master password kept out of the worker processes that parse hostile mail."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailstack import MailStack
from monitor.config import ConfigError, load_config, read_secret, unexpanded_credentials
from tests.conftest import REPO, FilterProcess, write_config
from tests.samples.make_samples import PDF, message

HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"
SECRETS = '[dovecot]\nmaster_password_file = "${CREDENTIALS_DIRECTORY}/dovecot-master"\n'


def test_credentials_directory_is_expanded(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "dovecot-master").write_text("s3-khong-doan-duoc\n")
    config = write_config(tmp_path, SECRETS + '[alerts]\npassword_file = "${CREDENTIALS_DIRECTORY}/relay"\n')
    loaded = load_config(config, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert loaded.dovecot.master_password_file == creds / "dovecot-master"
    assert loaded.alerts.password_file == creds / "relay"
    assert read_secret(loaded.dovecot.master_password_file, "master") == "s3-khong-doan-duoc"

    # Unset: commands that need no secret still run; reading the secret says what is missing.
    unset = load_config(config, {})
    assert unexpanded_credentials(unset) == [
        f"{key}: ${{CREDENTIALS_DIRECTORY}} is not set (systemd sets it for a unit with LoadCredential=; "
        "elsewhere run with CREDENTIALS_DIRECTORY=/etc/mailmon/secrets)"
        for key in ("dovecot.master_password_file", "alerts.password_file")
    ]
    with pytest.raises(ConfigError) as info:
        read_secret(unset.dovecot.master_password_file, "dovecot.master_password_file")
    assert "${CREDENTIALS_DIRECTORY} is not set" in info.value.errors[0]

    # The same through the command line, as ExecStartPre runs it inside the unit.
    env = {**os.environ, "CREDENTIALS_DIRECTORY": str(creds)}
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "monitor.cli", "check-config", str(config)], capture_output=True, text=True,
        cwd=REPO, env=env,
    )
    assert run(env).returncode == 0
    unset = {k: v for k, v in env.items() if k != "CREDENTIALS_DIRECTORY"}
    failed = run(unset)
    assert failed.returncode == 78 and "CREDENTIALS_DIRECTORY" in failed.stdout + failed.stderr


def test_what_workers_are_sent_holds_no_secret(tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "dovecot-master").write_text("s3-khong-doan-duoc\n")
    config = load_config(write_config(tmp_path, SECRETS), {"CREDENTIALS_DIRECTORY": str(creds)})
    sent = pickle.dumps(config.evaluation_settings())
    assert b"s3-khong-doan-duoc" not in sent and str(creds).encode() not in sent


# -- the daemon's worker processes ---------------------------------------------------------------


def memory_has(pid: int, needle: bytes) -> bool:
    """Whether ``needle`` is anywhere in the readable memory of process ``pid`` (needs root)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r") or line.rstrip().endswith(("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    return True
            except (OSError, OverflowError):
                continue
    return False


def workers_of(pid: int) -> list[int]:
    """The evaluation processes (multiprocessing spawn children) of ``pid``."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


@pytest.mark.stack
def test_the_master_password_never_reaches_a_worker(stack: MailStack, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root")
    stack.clear()
    password = stack.master_user[1].encode()
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "dovecot-master").write_bytes(password + b"\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        metrics_port = s.getsockname()[1]
    config = write_config(
        tmp_path,
        SECRETS + f'imap = "127.0.0.1:{stack.ports.imap}"\nmanagesieve = "127.0.0.1:{stack.ports.sieve}"\n'
        f'[daemon]\nmetrics_listen = "127.0.0.1:{metrics_port}"\n[alerts]\nenabled = false\n',
        listen=f"127.0.0.1:{stack.ports.filter}",
        reinject=f"127.0.0.1:{stack.ports.reinject}",
        workers=1,
    )
    (tmp_path / "units.csv").write_text("unit,name,parent,it_contact\nstttt,Sở TT&TT,,cntt@example.gov.vn\n")
    (tmp_path / "mailboxes.csv").write_text(
        "address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n"
        f"{HOANT},Nguyễn Thị Hoa,stttt,personal,active,2025-01-01,2026-10-01,1024\n"
    )
    imported = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "directory", "import",
         str(tmp_path / "units.csv"), str(tmp_path / "mailboxes.csv")],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "CREDENTIALS_DIRECTORY": str(creds)},
    )
    assert imported.returncode == 0, imported.stderr
    proc = FilterProcess(config, stack.ports.filter, tmp_path / "run.log", "run", {"CREDENTIALS_DIRECTORY": str(creds)})
    proc.start()
    try:
        assert proc.proc is not None
        daemon = proc.proc.pid
        # The first sweep (30 s after start) logs in to Dovecot as the master user: the daemon
        # has read the password from the credentials directory by then.
        stack.wait_until(lambda: "sweep: " in proc.logs(), 90, "the first sweep")
        assert "sweep: 1 mailboxes" in proc.logs() and "0 errors" in proc.logs().split("sweep: ")[1].splitlines()[0]
        assert memory_has(os.getpid(), password)  # the scan finds it where it is: in this test's memory

        # A worker started after that: kill the one started at warm-up; a new pool takes over.
        for worker in workers_of(daemon):
            os.kill(worker, signal.SIGKILL)
        attachment = [("bao-cao.pdf", PDF, "application/pdf")]
        for i in range(2):  # the first may meet the dead pool (451, Postfix retries)
            stack.send(message(f"co tep {i}", sender=HOANT, to=VANPHONG, attachments=attachment), HOANT, [VANPHONG])
        stack.wait_until(lambda: len(stack.delivered(VANPHONG)) >= 1 and workers_of(daemon), 60, "a new worker")

        workers = workers_of(daemon)
        assert workers
        for worker in workers:
            environ = Path(f"/proc/{worker}/environ").read_bytes()
            assert b"CREDENTIALS_DIRECTORY" not in environ and str(creds).encode() not in environ
            assert not memory_has(worker, password)
            assert memory_has(worker, b"monitor.inspect.pipeline")  # the scan reads the worker's memory
    finally:
        proc.stop()
