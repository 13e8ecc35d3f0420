"""The systemd unit: `systemd-analyze verify` is clean, the exposure stays at or below 1.5, and memory and
task ceilings are set, above what the benchmark measured."""

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
def test_exposure_at_most_one_and_a_half(tmp_path: Path) -> None:
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit_with_real_binary(tmp_path))],
        capture_output=True,
        text=True,
    )
    match = re.search(r"Overall exposure level for mailmon\.service: (\d+\.\d+)", out.stdout)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= 1.5, out.stdout


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


def unit_value(key: str) -> str:
    values = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]
    assert len(values) == 1, f"{key} set {len(values)} times"
    return values[0]


def megabytes(value: str) -> float:
    units = {"K": 2**-10, "M": 1, "G": 2**10}
    return float(value[:-1]) * units[value[-1]]


def test_memory_and_task_ceilings_sit_above_the_benchmark() -> None:
    """The figures the benchmark printed (docs/performance.md) must fit under the ceilings with room."""
    perf = (REPO / "docs" / "performance.md").read_text()
    peak_rss = max(int(m) for m in re.findall(r"peak_rss_mb(?:_filter|_8x40mb)=(\d+)", perf))
    peak_tasks = max(int(m) for m in re.findall(r"peak_tasks(?:_filter|_8x40mb)=(\d+)", perf))
    high, hard, tasks = megabytes(unit_value("MemoryHigh")), megabytes(unit_value("MemoryMax")), int(unit_value("TasksMax"))
    assert 2 * peak_rss <= high < hard
    assert 4 * peak_tasks <= tasks
