"""One message in, one verdict out: parse, run every traffic rule, resolve the actions.

Pure and synchronous: the SMTP filter runs it in a worker process (so a 40 MB parse never stalls
the event loop), and ``mailmon scan`` runs it inline. No sockets, no store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitor.inspect.limits import Limits
from monitor.inspect.mime import BodyRange, ParsedMessage, parse_message
from monitor.inspect.verdict import Verdict, decide
from rules import TRAFFIC_RULES
from rules.base import Action, Finding, TrafficRule
from rules.facts import AntivirusResult, Attachment, Domains, MessageFacts
from rules.profile import Profile


@dataclass(frozen=True)
class Settings:
    """The picklable part of the config that evaluation needs (sent to worker processes)."""

    domains: Domains
    profile: Profile
    limits: Limits
    actions: dict[str, Action] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    direction: str
    message_id: str
    attachments: tuple[Attachment, ...]
    problems: tuple[str, ...]
    seconds: float
    # What clamd is given (monitor/scanners/antivirus.py): these attachments decoded, the rest of the message
    # raw; None when the whole raw message goes to clamd (a limit was hit, or too many attachments).
    attachment_ranges: tuple[BodyRange, ...] | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.verdict.findings


def facts_from(parsed: ParsedMessage, mail_from: str, rcpt_tos: tuple[str, ...], domains: Domains) -> MessageFacts:
    return MessageFacts(
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        domains=domains,
        headers=tuple(parsed.headers),
        subject=parsed.subject,
        attachments=tuple(parsed.attachments),
        problems=tuple(parsed.problems),
        limit_hits=tuple(parsed.limit_hits),
        body_text="\n".join(parsed.body_text),
    )


def run_rules(facts: MessageFacts, profile: Profile, rules: Mapping[str, TrafficRule]) -> list[Finding]:
    """The findings of the rules the profile has in force, each citing the profile's clauses."""
    return [
        profile.cite(f)
        for rule_id, rule in rules.items()
        if profile.in_force(rule_id)
        for f in rule.check(facts, profile)
    ]


def evaluate(data: bytes, mail_from: str, rcpt_tos: tuple[str, ...], settings: Settings) -> Evaluation:
    """Run every traffic rule on one raw message and decide what to do with it."""
    started = time.perf_counter()
    parsed = parse_message(data, settings.limits)
    facts = facts_from(parsed, mail_from, rcpt_tos, settings.domains)
    verdict = decide(run_rules(facts, settings.profile, TRAFFIC_RULES), settings.actions)
    return Evaluation(
        verdict=verdict,
        direction=facts.direction,
        message_id=(facts.header("Message-ID") or "").strip(),
        attachments=facts.attachments,
        problems=facts.problems,
        seconds=time.perf_counter() - started,
        attachment_ranges=clamd_ranges(parsed),
    )


# One clamd connection per attachment: past this many, one raw stream is cheaper.
MAX_CLAMD_STREAMS = 32


def clamd_ranges(parsed: ParsedMessage) -> tuple[BodyRange, ...] | None:
    """The attachments clamd gets decoded, or None for "the raw message" when the walk was cut short."""
    if parsed.limit_hits or parsed.clamd_raw or len(parsed.attachment_ranges) > MAX_CLAMD_STREAMS:
        return None
    return tuple(parsed.attachment_ranges)


def limit_evaluation(reason: str, mail_from: str, rcpt_tos: tuple[str, ...], settings: Settings) -> Evaluation:
    """The verdict on a message whose inspection could not finish at all (it broke the worker's
    memory ceiling, or outlived or killed a worker twice): an inspection-limit finding naming why.

    Nothing of the message is parsed again here: that is what failed.
    """
    facts = MessageFacts(mail_from=mail_from, rcpt_tos=rcpt_tos, domains=settings.domains, limit_hits=(reason,))
    findings = list(TRAFFIC_RULES["inspection-limit"].check(facts, settings.profile))
    return Evaluation(
        verdict=decide(findings, settings.actions),
        direction=facts.direction,
        message_id="",
        attachments=(),
        problems=(reason,),
        seconds=0.0,
    )


def evaluate_file(path: Path, mail_from: str, rcpt_tos: tuple[str, ...], settings: Settings) -> Evaluation:
    """Worker-process entry point for a spooled message: read it once, evaluate."""
    return evaluate(path.read_bytes(), mail_from, rcpt_tos, settings)


def with_antivirus(evaluation: Evaluation, result: AntivirusResult, settings: Settings) -> Evaluation:
    """clamd's answer folded into the verdict through the virus rules (pure, in rules/virus.py)."""
    facts = MessageFacts(mail_from="", rcpt_tos=(), domains=settings.domains, antivirus=(result,))
    extra = run_rules(facts, settings.profile, {r: TRAFFIC_RULES[r] for r in ("virus", "virus-unscanned")})
    if not extra:
        return evaluation
    return replace(evaluation, verdict=decide([*evaluation.findings, *extra], settings.actions))
