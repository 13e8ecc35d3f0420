"""The package layout is the architecture: imports flow one way (the contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None, "import-linter is a dev dependency (pip install -e .[dev])"
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_contracts_have_no_exceptions_list() -> None:
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    assert "ignore_imports" not in pyproject and "allow_indirect_imports" not in pyproject
