"""Policy in one place: the action of each finding, the verdict, and how it is explained.

Rules say what they found and what the regulation intends (their default action); config.toml may
change a rule's action. The verdict is the strongest action among the findings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rules.base import Action, Finding


@dataclass(frozen=True)
class Verdict:
    action: Action
    findings: tuple[Finding, ...]

    @property
    def deciding(self) -> tuple[Finding, ...]:
        """The findings that carry the verdict's action (what the SMTP answer explains)."""
        chosen = [f for f in self.findings if f.action == self.action]
        return tuple(sorted(chosen, key=lambda f: -f.severity))  # the gravest first: it is what the reply names


def decide(findings: list[Finding], actions: dict[str, Action]) -> Verdict:
    resolved = tuple(replace(f, action=actions.get(f.rule, f.action)) for f in findings)
    action = max((f.action for f in resolved), default=Action.PASS)
    return Verdict(action=action, findings=resolved)


def one_line(finding: Finding) -> str:
    """The finding in one line, Vietnamese first: what, why (detail), which clause, rule id."""
    return f"{finding.title.vi} / {finding.title.en}: {finding.detail} ({finding.rule}, {finding.citation})"
