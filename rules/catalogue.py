"""Every rule mailmon has, by id: what it checks (title), the words its clauses must speak of (topic)
and the parts of it a clause may back alone (aspects). Profiles switch these on and off."""

from __future__ import annotations

from typing import Protocol

from rules.base import Title


class Described(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> Title: ...
    @property
    def topic(self) -> tuple[str, ...]: ...
    @property
    def aspects(self) -> tuple[str, ...]: ...


def rule_catalogue() -> dict[str, Described]:
    """Traffic rules, account rules, and the request and yearly-report rules."""
    from rules import TRAFFIC_RULES
    from rules.accounts import all_account_rules
    from rules.requests import ItRequestOverdue, YearlyReportDue

    found: dict[str, Described] = dict(TRAFFIC_RULES)
    found.update({rule.id: rule for rule in all_account_rules()})
    found[ItRequestOverdue.id] = ItRequestOverdue()
    found[YearlyReportDue.id] = YearlyReportDue()
    return found
