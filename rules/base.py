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
    """One clause of one regulation, e.g. ``DN-2022 Đ12.6``, with a short title in our words and the
    words of the original it rests on (``quote``, checked against the original text by the tests).

    ``article`` None is no clause at all: a rule the site switched on where the regulation is silent
    (``site_policy``). ``aspects`` narrows the clause to some of a rule's findings (a mailbox kind,
    a request kind, "reset"…); empty, it backs all of them.
    """

    doc: str
    article: int | None
    clause: int | None = None
    point: str | None = None
    bullet: int | None = None  # the n-th dash item ("ý n") of an unnumbered list
    paragraph: int | None = None  # the n-th paragraph of an article without numbered clauses
    occurrence: int | None = None  # a clause number printed twice (LC-2015 Đ4: 1, 2, 2)
    decision: bool = False  # an article of the covering decision (QĐ), not of the attached text
    aspects: tuple[str, ...] = ()
    title_vi: str = field(default="", compare=False)
    title_en: str = field(default="", compare=False)
    quote: str = field(default="", compare=False)

    @classmethod
    def site_policy(cls, doc: str) -> Cite:
        return cls(
            doc,
            None,
            title_vi=f"chính sách của đơn vị vận hành; {doc} không có điều khoản này",
            title_en=f"site policy; {doc} has no such clause",
        )

    @property
    def is_site_policy(self) -> bool:
        return self.article is None

    def __str__(self) -> str:
        if self.article is None:
            return f"chính sách đơn vị / site policy ({self.doc}: không quy định / no clause)"
        text = f"{self.doc} {'QĐ ' if self.decision else ''}Đ{self.article}"
        if self.clause is not None:
            text += f".{self.clause}"
        if self.point:
            text += self.point
        if self.occurrence is not None:
            text += f" (lần {self.occurrence})"
        if self.paragraph is not None:
            text += f" đoạn {self.paragraph}"
        if self.bullet is not None:
            text += f" ý {self.bullet}"
        return text


@dataclass(frozen=True)
class Title:
    vi: str
    en: str


@dataclass(frozen=True)
class Finding:
    """One breach found in one message (or mailbox): which rule, why, and the clause.

    Rules leave ``cites`` empty: the profile in force fills them in (``Profile.cite``), so a finding
    always carries the clauses of the regulation the site runs, never another province's.
    ``advisory``: the regulation limits or recommends rather than forbids; the finding only informs.
    """

    rule: str
    detail: str
    cites: tuple[Cite, ...]
    severity: Severity
    action: Action
    title: Title = field(compare=False)
    aspect: str = ""
    advisory: bool = False
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
    Which clauses a finding cites, and whether the rule runs at all, is the profile's (rules/profiles/).
    ``topic``: words one of which every clause cited for this rule must contain (folded, without
    diacritics), so a citation that drifted to an unrelated clause fails the citation test.
    """

    id: ClassVar[str]
    title: ClassVar[Title]
    topic: ClassVar[tuple[str, ...]]
    aspects: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity]
    default_action: ClassVar[Action]
    # The strongest action config.toml may give this rule (an advisory rule never rejects).
    max_action: ClassVar[Action] = Action.REJECT

    def check(self, msg: MessageFacts, profile: Profile) -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, detail: str, aspect: str = "", mailbox: str = "") -> Finding:
        return Finding(
            rule=self.id,
            detail=detail,
            cites=(),
            severity=self.severity,
            action=self.default_action,
            title=self.title,
            aspect=aspect,
            mailbox=mailbox.lower(),
        )
