"""The rule registry: every traffic rule by id, checked for duplicates at import."""

from __future__ import annotations

from collections.abc import Iterable

from rules.base import TrafficRule


def build_registry(rule_classes: Iterable[type[TrafficRule]]) -> dict[str, TrafficRule]:
    registry: dict[str, TrafficRule] = {}
    for cls in rule_classes:
        if cls.id in registry:
            previous = type(registry[cls.id]).__module__
            raise RuntimeError(f'Duplicate key "{cls.id}" found in {cls.__module__}; previously {previous}')
        registry[cls.id] = cls()
    return registry
