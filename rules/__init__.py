"""The regulations as code: one module per family of rules, listed here explicitly."""

from __future__ import annotations

from rules import archive_rules, attachments, content, forwarding, inspection, public_provider, spam, virus
from rules.base import TrafficRule
from rules.registry import build_registry

ALL_TRAFFIC_RULES: tuple[type[TrafficRule], ...] = (
    forwarding.RULES
    + attachments.RULES
    + archive_rules.RULES
    + content.RULES
    + public_provider.RULES
    + inspection.RULES
    + spam.RULES
    + virus.RULES
)
TRAFFIC_RULES: dict[str, TrafficRule] = build_registry(ALL_TRAFFIC_RULES)
