"""Choosing and adjusting a profile in config.toml: every shipped profile passes `check-config`, overrides
change the numbers (account rules too), switches turn rules on and off, and every bad value is reported
by its TOML path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import EX_CONFIG, ConfigError, load_config
from rules.profile import PROFILE_NAMES

MAILMON = [sys.executable, "-m", "monitor.cli"]
BASE = '[organization]\nlocal_domains = ["example.gov.vn"]\n'


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE + body, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, body: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, body))
    return "\n".join(info.value.errors)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_each_profile_is_selectable_and_passes_check_config(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[profile]\nname = "{name}"\n')
    out = subprocess.run([*MAILMON, "check-config", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    profile = load_config(path).load_profile()
    assert profile.name == name
    assert f"{profile.regulation.short_name}: Quyết định {profile.regulation.number}" in out.stdout


def test_overrides_change_numbers_of_traffic_and_account_rules(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "[profile.overrides.rules.attachment-too-large]\nmax_bytes = 20971520\n"
            "[profile.overrides.rules.quota]\nquota_mb = 2048\n"
            '[profile.overrides.rules.check-frequency.targets.personal]\nchecks = 1\nwindow = "any"\n'
            '[profile.overrides.working_hours]\nmorning = ["07:00", "11:00"]\n',
        )
    )
    profile = config.load_profile()
    assert profile.attachment_max_bytes == 20971520
    assert profile.accounts.quota_mb == 2048 and profile.accounts.quota_max_exception_mb == 2048
    assert profile.accounts.check_targets["personal"].checks == 1  # DN-2022 states none: the site's value
    assert profile.accounts.check_targets["unit"].checks == 1  # kept from the profile
    assert str(profile.accounts.working_hours.morning[0]) == "07:00:00"


def test_every_bad_value_is_reported_by_its_toml_path(tmp_path: Path) -> None:
    text = errors_of(
        tmp_path,
        '[profile.overrides.rules.quota]\nquota_mb = "lots"\nquota_gb = 2\n'
        "[profile.overrides.rules.check-frequency.targets.staff]\nchecks = 2\n"
        "[profile.overrides.rules.no-such-rule]\nx = 1\n"
        "[profile.overrides.rules.spam]\nenabled = false\n"
        '[profile.overrides.working_hours]\nafternoon = ["17:00", "13:30"]\n'
        "[profile.overrides.detection]\nquota_warn_ratio = 3\n"
        '[profile.overrides.lists]\nexecutable_extensions = "exe"\n',
    )
    for expected in (
        "profile.overrides.rules.quota.quota_mb: expected a whole number (got 'lots')",
        "profile.overrides.rules.quota.quota_gb: unknown key",
        "profile.overrides.rules.check-frequency.targets.staff: unknown; expected one of personal, unit, agency, admin",
        "profile.overrides.rules.no-such-rule: unknown rule id",
        "profile.overrides.rules.spam.enabled: cannot be overridden (switch rules with [rules.<id>] enabled)",
        "profile.overrides.working_hours.afternoon: the session ends (13:30) before it starts (17:00)",
        "profile.overrides.detection.quota_warn_ratio: must be between 0.01 and 1.0 (got 3.0)",
        "profile.overrides.lists.executable_extensions: expected a list of text (got 'exe')",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_a_switched_on_rule_without_a_value_names_the_missing_key(tmp_path: Path) -> None:
    body = '[profile]\nname = "lc-2015"\n[rules.attachment-too-large]\nenabled = true\n'
    text = errors_of(tmp_path, body)
    assert (
        "profile.overrides.rules.attachment-too-large.max_bytes: required: [rules.attachment-too-large] is switched "
        "on, and LC-2015 states no value"
    ) in text
    fixed = load_config(write(tmp_path, body + "[profile.overrides.rules.attachment-too-large]\nmax_bytes = 1000\n"))
    policy = fixed.load_profile().rules["attachment-too-large"]
    assert policy.enabled and policy.site_policy


def test_switches_turn_rules_on_as_site_policy_and_off(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[profile]\nname = "dl-2006"\n[rules.virus]\nenabled = true\n[rules.spam]\nenabled = false\n')
    )
    profile = config.load_profile()
    assert profile.in_force("virus") and not profile.in_force("spam")
    assert profile.rules["virus"].site_policy
    out = subprocess.run(
        [*MAILMON, "check-config", str(tmp_path / "config.toml")], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "site policy: virus" in out.stdout


def test_rule_actions_are_checked_against_the_rule(tmp_path: Path) -> None:
    text = errors_of(
        tmp_path,
        '[rules.quota]\naction = "reject"\n[rules.public-provider-mailbox]\naction = "reject"\n[organization.x]\n',
    )
    assert "rules.quota.action: an account rule only reports (tags); set enabled instead" in text
    assert "rules.public-provider-mailbox.action: at most tag for this rule (got 'reject')" in text


def test_trusted_networks_are_networks(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[organization]\nlocal_domains = ["example.gov.vn"]\ntrusted_networks = ["10.1.0.0/16", "intranet"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "organization.trusted_networks: item 1: not an IP network ('intranet')" in "\n".join(info.value.errors)
    path.write_text(
        '[organization]\nlocal_domains = ["example.gov.vn"]\ntrusted_networks = ["10.1.2.3/16", "2001:db8::/32"]\n',
        encoding="utf-8",
    )
    profile = load_config(path).account_profile()
    assert profile.trusted_networks == ("10.1.0.0/16", "2001:db8::/32")
    out = subprocess.run(
        [*MAILMON, "check-config", str(write(tmp_path, '[profile]\nname = "xx-1999"\n'))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == EX_CONFIG and "profile.name: unknown profile 'xx-1999'" in out.stderr
