"""The systemd unit: `systemd-analyze verify` is clean and the exposure stays at or below 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "mailmon.service"


def unit_with_real_binary(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's mailmon, so verify can check it."""
    mailmon = Path(sys.executable).with_name("mailmon")
    text = UNIT.read_text().replace("/usr/local/bin/mailmon", str(mailmon))
    path = tmp_path / "mailmon.service"
    path.write_text(text)
    return path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_verify_is_clean(tmp_path: Path) -> None:
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit_with_real_binary(tmp_path))], capture_output=True, text=True
    )
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if "mailmon" in ln]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_exposure_at_most_two(tmp_path: Path) -> None:
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit_with_real_binary(tmp_path))],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Overall exposure level for mailmon\.service: (\d+\.\d+)", out.stdout)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= 2.0, out.stdout


def test_unit_essentials() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "User=mailmon",
        "StateDirectory=mailmon",
        "LogsDirectory=mailmon",
        "RuntimeDirectory=mailmon",
        "LoadCredential=",
        "After=network-online.target dovecot.service",
        "Before=postfix.service",
    ):
        assert line in text, line
    tmpfiles = (REPO / "systemd" / "mailmon.tmpfiles").read_text()
    assert "/var/spool/mailmon/quarantine  0700" in tmpfiles
