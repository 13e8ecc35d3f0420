"""Files: 0600 files and 0700 directories whatever the umask mailmon is started with (000 and 077),
for the service and the commands; at start only the spool's own leftovers (and copies into the
quarantine that a kill interrupted) are removed."""

from __future__ import annotations

import os
import smtplib
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.store.files import private_dir
from tests.conftest import ON_POSTGRES, REPO, mailmon, write_config
from tests.samples.make_samples import message

HOANT = "hoant.stttt@example.gov.vn"
VANPHONG = "vanphong@example.gov.vn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def config_under(base: Path, port: int) -> Path:
    """A config whose database, spool and quarantine are in directories that do not exist yet."""
    base.mkdir()
    config = write_config(base, listen=f"127.0.0.1:{port}", reinject=f"127.0.0.1:{free_port()}", workers=1)
    text = config.read_text()
    for name in ("mailmon.sqlite3", "spool", "quarantine"):
        text = text.replace(f'"{base / name}"', f'"{base / "var" / "lib" / name}"')
    config.write_text(text)
    return config



@pytest.mark.sqlite_only  # the database's own directory and files, made by the first command
@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_modes_do_not_depend_on_the_umask(tmp_path: Path, umask: int) -> None:
    port = free_port()
    config = config_under(tmp_path / "site", port)
    var = tmp_path / "site" / "var"
    spool = var / "lib" / "spool"

    # The command line creates the database (and its directories) first.
    units = tmp_path / "units.csv"
    units.write_text("unit,name,parent,it_contact\nstttt,Sở TT&TT,,cntt@example.gov.vn\n")
    boxes = tmp_path / "mailboxes.csv"
    boxes.write_text("address,display_name,unit,kind,status,created_at,password_changed_at,quota_mb\n")
    assert mailmon(config, "directory", "import", str(units), str(boxes), umask=umask).returncode == 0
    report = tmp_path / "site" / "report.csv"
    assert mailmon(config, "report", "--period", "2026", "--format", "csv", "-o", str(report), umask=umask).returncode == 0

    # What was left in the spool: one leftover of ours, and files that are not the spool's.
    spool.mkdir(mode=0o700)
    (spool / "msg-leftover1.eml").write_bytes(b"From: a\r\n\r\nx\r\n")
    (spool / "important.conf").write_text("keep me\n")
    (spool / "msg-link.eml").symlink_to(spool / "important.conf")
    # ... and in the quarantine, a copy a kill interrupted (a temp file never renamed to its .eml).
    day = var / "lib" / "quarantine" / "20261206"
    private_dir(day)
    (day / ".tmp-interrupted").write_bytes(b"From: a\r\n")

    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "filter"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "filter.log").open("wb"), cwd=REPO,
        preexec_fn=lambda: os.umask(umask),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # quarantined: classified subject
                    client.sendmail(HOANT, [VANPHONG], message("TỐI MẬT: kế hoạch", sender=HOANT, to=VANPHONG).as_bytes())
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "filter.log").read_text()
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(60)

    assert sorted(p.name for p in spool.iterdir()) == ["important.conf", "msg-link.eml"]
    assert list(day.iterdir()) == []
    made_dirs = [var, var / "lib", spool, var / "lib" / "quarantine"]
    made_dirs += [p for p in (var / "lib" / "quarantine").rglob("*") if p.is_dir()]
    made_files = [p for p in (var / "lib").rglob("*") if p.is_file() and p.parent != spool] + [report]
    assert any(p.suffix == ".eml" for p in made_files)
    if not ON_POSTGRES:  # on PostgreSQL the store is no file of ours
        assert any(p.name == "mailmon.sqlite3" for p in made_files)
    assert {str(p): oct(mode(p)) for p in made_dirs if mode(p) != 0o700} == {}
    assert {str(p): oct(mode(p)) for p in made_files if mode(p) != 0o600} == {}
