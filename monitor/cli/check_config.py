"""Check a config file: every error with its TOML path, exit 78 when it is invalid."""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.config import EX_CONFIG, ConfigError, load_config, unexpanded_credentials


def print_config_errors(exc: ConfigError) -> None:
    print(f"{exc.path}: cấu hình không hợp lệ / invalid configuration:", file=sys.stderr)
    for error in exc.errors:
        print(f"  {error}", file=sys.stderr)


def cmd_check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        print_config_errors(exc)
        return EX_CONFIG
    unset = unexpanded_credentials(config)
    if unset:  # the service could not read its secrets with this environment
        print_config_errors(ConfigError(path, unset))
        return EX_CONFIG
    profile = config.load_profile()
    on = sum(1 for policy in profile.rules.values() if policy.enabled)
    site = sorted(rule_id for rule_id, policy in profile.rules.items() if policy.site_policy)
    print(f"{path}: OK (profile {config.profile.name}, local domains {', '.join(config.organization.local_domains)})")
    print(f"  {profile.regulation.short_name}: {profile.regulation.heading}")
    policy = f"; theo chính sách đơn vị / site policy: {', '.join(site)}" if site else ""
    print(f"  {on} quy tắc áp dụng / rules in force{policy}")
    return 0
