"""What every rule declares: its id, titles, the clauses it enforces, and the findings it returns."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from rules.facts import MessageFacts
    from rules.profile import Profile


class Severity(enum.IntEnum):
    """How serious a breach is; drives alert urgency, not the SMTP answer."""

    INFO = 10
    WARNING = 20
    HIGH = 30
    CRITICAL = 40

    def __str__(self) -> str:
        return self.name.lower()


class Action(enum.IntEnum):
    """What the filter does with a message; a verdict is the strongest action of its findings."""

    PASS = 0
    TAG = 1
    QUARANTINE = 2
    REJECT = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Action:
        return cls[text.upper()]


@dataclass(frozen=True)
class Cite:
    """One clause of one regulation, e.g. ``DN-2022 Đ12.6`` (document, article, clause)."""

    doc: str
    article: int
    clause: int | None = None
    point: str | None = None

    def __str__(self) -> str:
        text = f"{self.doc} Đ{self.article}"
        if self.clause is not None:
            text += f".{self.clause}"
        if self.point:
            text += self.point
        return text


@dataclass(frozen=True)
class Title:
    vi: str
    en: str


@dataclass(frozen=True)
class Finding:
    """One breach found in one message (or mailbox): which rule, why, and the clause."""

    rule: str
    detail: str
    cites: tuple[Cite, ...]
    severity: Severity
    action: Action
    title: Title = field(compare=False)
    # The mailbox this finding is about when the envelope does not say it (rules/concerns.py): the
    # official box that forwarded a message, a held sender. Empty: the envelope decides.
    mailbox: str = ""

    @property
    def citation(self) -> str:
        return ", ".join(str(c) for c in self.cites)


class TrafficRule:
    """A rule checked on every message. Subclasses declare data and implement ``check``.

    ``check`` is pure: it gets the parsed facts of one message and the profile's numbers
    and yields findings. It never does I/O and never decides SMTP codes (monitor/inspect/verdict.py does).
    """

    id: ClassVar[str]
    title: ClassVar[Title]
    cites: ClassVar[tuple[Cite, ...]]
    severity: ClassVar[Severity]
    default_action: ClassVar[Action]

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, detail: str, mailbox: str = "") -> Finding:
        return Finding(
            rule=self.id,
            detail=detail,
            cites=self.cites,
            severity=self.severity,
            action=self.default_action,
            title=self.title,
            mailbox=mailbox.lower(),
        )
