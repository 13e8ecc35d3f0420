"""config.toml validation: every error with its TOML path, exit 78, no secrets in the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import EX_CONFIG, ConfigError, load_config
from tests.conftest import REPO

MAILMON = [sys.executable, "-m", "monitor.cli"]


def test_the_example_config_is_valid_and_documents_every_key() -> None:
    config = load_config(REPO / "config.toml")
    assert config.organization.government_domains == ["gov.vn"]
    assert config.storage.database.is_absolute()
    lines = (REPO / "config.toml").read_text("utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            above = lines[i - 1].strip()
            assert above.startswith("#"), f"config.toml line {i + 1} ({line.strip()}) has no comment above it"


def test_every_error_is_reported_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        """
[organization]
local_domains = "example.gov.vn"
government_domains = ["gov.vn", 5]
[filter]
listen = "localhost"
workers = "two"
mode = "sideways"
[rules.no-such-rule]
action = "reject"
[rules.executable-attachment]
action = "explode"
[storage]
databse = "x.db"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    text = "\n".join(info.value.errors)
    for path in (
        "organization.local_domains",
        "organization.government_domains.1",
        "filter.listen",
        "filter.workers",
        "filter.mode",
        "rules.no-such-rule",
        "rules.executable-attachment.action",
        "storage.databse",
    ):
        assert f"{path}:" in text, f"{path} missing from:\n{text}"
    assert "valid integer" in text and "'two'" in text


def test_passwords_are_refused_in_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(
        '[organization]\nlocal_domains = ["a.gov.vn"]\n[dovecot]\nmaster_password = "s3cret"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert any("master_password_file" in e for e in info.value.errors)


def test_check_config_exit_codes(tmp_path: Path, config_file: Path) -> None:
    ok = subprocess.run([*MAILMON, "check-config", str(config_file)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[organization\n", encoding="utf-8")
    bad = subprocess.run([*MAILMON, "check-config", str(broken)], capture_output=True, text=True)
    assert bad.returncode == EX_CONFIG
    assert "TOML syntax" in bad.stderr
    missing = subprocess.run(
        [*MAILMON, "--config", str(tmp_path / "nope.toml"), "scan", "x"], capture_output=True, text=True
    )
    assert missing.returncode == EX_CONFIG
    assert "cannot read" in missing.stderr


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[organization]\nlocal_domains = ["a.gov.vn"]\n[storage]\ndatabase = "db/x.sqlite3"\n',
        encoding="utf-8",
    )
    assert load_config(path).storage.database == tmp_path.resolve() / "db" / "x.sqlite3"


def test_the_filter_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[organization]\nlocal_domains = ["a.gov.vn"]\n[filter]\nlisten = "nowhere"\n', encoding="utf-8")
    out = subprocess.run([*MAILMON, "--config", str(bad), "filter"], capture_output=True, text=True, timeout=60)
    assert out.returncode == EX_CONFIG
    assert "filter.listen:" in out.stderr
