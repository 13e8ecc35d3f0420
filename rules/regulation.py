"""What a profile says about one regulation besides its numbers: who issued it, which rules it has
at all, how strictly, and on which clauses; and the shapes its deadlines and targets take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from typing import Literal

from rules.base import Action, Cite, Finding

Mode = Literal["enforce", "advisory"]
DayKind = Literal["working", "calendar"]
Window = Literal["any", "working-hours", "morning-afternoon"]
WINDOWS: tuple[Window, ...] = ("any", "working-hours", "morning-afternoon")
KINDS = ("personal", "unit", "agency", "admin")


@dataclass(frozen=True)
class Regulation:
    """The document a profile encodes: ``short_name`` prefixes every citation (``DN-2022 Đ9.2``)."""

    name: str
    short_name: str
    issuer_vi: str
    issuer_en: str
    number: str
    date: date
    title_vi: str
    title_en: str
    document: str  # "Quy chế" or "Quy định": the attached text whose articles are cited

    @property
    def heading(self) -> str:
        """One line naming it, Vietnamese: ``Quyết định 07/2022/QĐ-UBND ngày 26/01/2022 của …``."""
        return f"Quyết định {self.number} ngày {self.date:%d/%m/%Y} của {self.issuer_vi}: {self.title_vi}"


@dataclass(frozen=True)
class Deadline:
    """``days`` working or calendar days from an event (``start``: what starts the clock, as the text says)."""

    days: int
    day_kind: DayKind
    start: str

    def describe(self) -> tuple[str, str]:
        vi = f"{self.days} ngày làm việc" if self.day_kind == "working" else f"{self.days} ngày"
        en = (
            f"{self.days} working day{'s' if self.days > 1 else ''}"
            if self.day_kind == "working"
            else (f"{self.days} day{'s' if self.days > 1 else ''}")
        )
        return vi, en


@dataclass(frozen=True)
class CheckTarget:
    """Checks of one kind of mailbox each working day, and when in the day they count."""

    checks: int
    window: Window
    stated: str = ""  # the text's own wording when it is not one number ("2-3")


@dataclass(frozen=True)
class WorkingHours:
    """The site's office hours (no regulation states them): a morning and an afternoon session."""

    morning: tuple[time, time]
    afternoon: tuple[time, time]

    def session(self, moment: time) -> str | None:
        """ "morning", "afternoon", or None outside working hours."""
        if self.morning[0] <= moment < self.morning[1]:
            return "morning"
        if self.afternoon[0] <= moment < self.afternoon[1]:
            return "afternoon"
        return None


@dataclass(frozen=True)
class YearlyReport:
    """When the yearly report on the regulation's implementation is due, to whom, and what it holds."""

    month: int
    day: int
    inclusive: bool  # False: "trước ngày 15 tháng 12" (before the 15th): due by the 14th
    recipient_vi: str
    content_vi: str

    def due(self, year: int) -> date:
        """The last day the report is on time."""
        day = date(year, self.month, self.day)
        return day if self.inclusive else date.fromordinal(day.toordinal() - 1)


@dataclass(frozen=True)
class RulePolicy:
    """Whether a rule runs under a profile, how strictly, and on which clauses.

    ``site_policy``: config.toml switched the rule on where the regulation has no clause for it; its
    findings cite the site's policy, never a clause.
    """

    id: str
    enabled: bool
    mode: Mode
    cites: tuple[Cite, ...]
    site_policy: bool = False

    def cites_for(self, aspect: str, doc: str) -> tuple[Cite, ...]:
        """The clauses behind one finding: the general ones (no aspects) and those of its aspect. A
        finding that no clause backs (its aspect is not the regulation's, and no general clause is
        there) is site policy."""
        if self.site_policy:
            return (Cite.site_policy(doc),)
        if aspect:
            chosen = tuple(c for c in self.cites if aspect in c.aspects or not c.aspects)
        else:
            chosen = tuple(c for c in self.cites if not c.aspects) or self.cites
        return chosen or (Cite.site_policy(doc),)


def cite_finding(finding: Finding, policies: Mapping[str, RulePolicy], regulation: Regulation) -> Finding:
    """The finding with the clauses of the regulation in force, an advisory one capped at tagging."""
    policy = policies.get(finding.rule)
    if policy is None:
        return replace(finding, cites=(Cite.site_policy(regulation.short_name),))
    advisory = finding.advisory or policy.mode == "advisory"
    action = min(finding.action, Action.TAG) if advisory else finding.action
    return replace(
        finding, cites=policy.cites_for(finding.aspect, regulation.short_name), advisory=advisory, action=action
    )
