"""Content scoring through rspamd's HTTP API (`POST /checkv2`), for the `spam` rule.

Optional and advisory: rspamd down means "not scored" — the message passes with a header saying
so unless [rspamd] fail_open = false. The body is streamed from the spool (http.client in a
thread: no new dependency, no copy of a big message in memory).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field, replace
from typing import IO
from urllib.parse import urlsplit

from monitor.config import Rspamd
from monitor.inspect.added_headers import field as header_field
from monitor.inspect.pipeline import Evaluation, Settings
from monitor.inspect.verdict import Verdict, decide
from rules import TRAFFIC_RULES
from rules.base import Action


class RspamdUnavailable(Exception):
    pass


@dataclass(frozen=True)
class SpamScore:
    action: str  # "no action" | "greylist" | "add header" | "rewrite subject" | "soft reject" | "reject"
    score: float
    required: float
    symbols: list[str] = field(default_factory=list)

    def detail(self) -> str:
        top = ", ".join(self.symbols[:6])
        return f"rspamd {self.action} ({self.score:.1f}/{self.required:.1f}): {top}"


def _header_value(value: str) -> bytes:
    """An envelope value as rspamd reads it: the client's own bytes (UTF-8 for an SMTPUTF8 address).

    http.client would encode a str as Latin-1 and fail on "nguyễn@…"; the envelope comes from
    aiosmtpd decoded with surrogateescape, so this gives back exactly what the client sent.
    """
    raw = value.encode("utf-8", "surrogateescape")
    if b"\r" in raw or b"\n" in raw:
        raise RspamdUnavailable(f"line break in an envelope value: {value[:80]!r}")
    return raw


def check(
    url: str,
    body: IO[bytes] | bytes,
    size: int,
    *,
    mail_from: str,
    rcpt_tos: list[str],
    client_ip: str = "",
    helo: str = "",
    queue_id: str = "",
    timeout: float = 15.0,
) -> SpamScore:
    """Score one message; raises RspamdUnavailable for any transport or protocol failure."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 11333, timeout=timeout)
    headers = {"Content-Length": str(size), "From": mail_from or "<>"}
    if client_ip:
        headers["IP"] = client_ip
    if helo:
        headers["Helo"] = helo
    if queue_id:
        headers["Queue-Id"] = queue_id
    try:
        conn.putrequest("POST", (parts.path.rstrip("/") or "") + "/checkv2")
        for name, value in headers.items():
            conn.putheader(name, _header_value(value))
        for rcpt in rcpt_tos:
            conn.putheader("Rcpt", _header_value(rcpt))
        conn.endheaders()
        if isinstance(body, bytes):
            conn.send(body)
        else:
            while chunk := body.read(256 * 1024):
                conn.send(chunk)
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status != 200:
            raise RspamdUnavailable(f"HTTP {resp.status}: {payload[:200]!r}")
        data = json.loads(payload)
        symbols = sorted(data.get("symbols", {}).values(), key=lambda s: -abs(float(s.get("score", 0))))
        return SpamScore(
            action=str(data.get("action", "no action")),
            score=float(data.get("score", 0.0)),
            required=float(data.get("required_score", 0.0)),
            symbols=[str(s.get("name", "")) for s in symbols],
        )
    except (OSError, http.client.HTTPException, ValueError, TypeError) as exc:
        raise RspamdUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def with_spam_score(
    evaluation: Evaluation, score: SpamScore, rules: Rspamd, settings: Settings
) -> tuple[Evaluation, bytes]:
    """rspamd's opinion folded into the verdict: outbound spam is a `spam` finding under policy (citing the
    profile's clauses, when the profile has the rule); inbound spam is tagged and counted."""
    header = header_field("X-Mailmon-Spam-Score", f"{score.score:.1f}/{score.required:.1f} ({score.action})")
    spam = settings.profile.cite(TRAFFIC_RULES["spam"].finding(score.detail()))
    outbound = evaluation.direction in ("outbound", "internal") and settings.profile.in_force("spam")
    if outbound and score.action in rules.outbound_spam_actions:
        verdict = decide([*evaluation.findings, spam], settings.actions)
    elif evaluation.direction in ("inbound", "relay") and score.action in rules.inbound_spam_actions:
        tagged = replace(spam, action=Action.TAG)
        verdict = Verdict(max(evaluation.verdict.action, Action.TAG), (*evaluation.findings, tagged))
        header += header_field("X-Mailmon-Spam", "yes")
    else:
        return evaluation, header
    return replace(evaluation, verdict=verdict), header
