"""Shared fixtures: a valid config file in a temp dir; the real mail stack lives in conftest_stack."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def write_config(directory: Path, extra: str = "", **filter_keys: object) -> Path:
    """A minimal valid config whose storage lives in ``directory``."""
    lines = [
        "[organization]",
        'local_domains = ["example.gov.vn"]',
        'government_domains = ["gov.vn"]',
        "[storage]",
        f'database = "{directory / "mailmon.sqlite3"}"',
        f'spool_dir = "{directory / "spool"}"',
        f'quarantine_dir = "{directory / "quarantine"}"',
        "[filter]",
    ]
    for key, value in filter_keys.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, bool) else f"{key} = {str(value).lower()}")
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)
