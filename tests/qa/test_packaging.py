"""`pip install .` builds without a packaging warning, and the wheel carries the data files the code reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def clean_copy(target: Path) -> Path:
    """The repository's files (tracked or new, not ignored), without build leftovers that setuptools reuses."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    for name in listed:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def test_the_wheel_builds_without_warnings_and_carries_its_data(tmp_path: Path) -> None:
    source = clean_copy(tmp_path / "src")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    build_output = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "is ignored: it is neither a file nor a directory" not in line  # the machine's pip index settings
    ]
    warnings = [line for line in build_output if "warning" in line.lower() or "deprecat" in line.lower()]
    assert not warnings, "\n".join(warnings)
    (wheel,) = tmp_path.glob("mailmon-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "rules/profiles/dn-2022.toml",
        "exporters/notify/templates/mail.txt.j2",
        "exporters/metrics/prometheus/alerts.yml",
        "exporters/metrics/grafana/mailmon.json",
    ):
        assert data in names, f"{data} is not in the wheel"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "demo/", "mailstack/"))]
