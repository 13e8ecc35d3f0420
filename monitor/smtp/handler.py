"""The SMTP content filter: a thin aiosmtpd handler over the pure pipeline (monitor/inspect/pipeline.py).

A message is answered 250 only after it was re-injected into Postfix (answered 250 there) or
is durably in quarantine; a reject is explained in one line with the rule and its clause; any
doubt (a timeout, a crash, a dependency down) is a 451 so that Postfix keeps the message.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Config, split_hostport
from monitor.inspect.added_headers import field
from monitor.inspect.pipeline import Evaluation, with_antivirus
from monitor.inspect.verdict import one_line
from monitor.scanners import clamd, rspamd
from monitor.scanners.antivirus import clamd_client, scan_message
from monitor.smtp import poison, replies, sending_windows
from monitor.smtp.events import NO_EVENTS, FilterEvents
from monitor.smtp.quarantine import Quarantine
from monitor.smtp.reinject import ReinjectError, Sessions, reinject
from monitor.smtp.sender_identity import HEAD_BYTES, postfix_login, queue_key
from monitor.smtp.spool import Spool
from monitor.smtp.workers import WorkerFailed, Workers
from monitor.store import AsyncStore
from rules import TRAFFIC_RULES
from rules.base import Action, Finding
from rules.facts import AntivirusResult

log = logging.getLogger("mailmon.filter")

VERSION_HEADER = "X-Mailmon"


def tag_headers(evaluation: Evaluation) -> bytes:
    """Header fields naming the findings of a delivered message, one per finding (added_headers.field:
    no control characters, RFC 2047 for what is not ASCII)."""
    out = field(VERSION_HEADER, f"{evaluation.verdict.action} ({len(evaluation.findings)} findings)")
    for finding in evaluation.findings:
        detail = " ".join(finding.detail.split())[:300]
        out += field("X-Mailmon-Finding", f"{finding.rule}; {finding.citation}; {finding.action}; {detail}")
    return out


def finding_rows(findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    return [
        {
            "rule": f.rule,
            "severity": str(f.severity),
            "action": str(f.action),
            "detail": f.detail,
            "citation": f.citation,
        }
        for f in findings
    ]


class FilterHandler:
    """aiosmtpd handler: evaluate in a worker process, then deliver, quarantine or reject."""

    def __init__(
        self,
        config: Config,
        store: AsyncStore,
        *,
        io_executor: Executor | None = None,
        events: FilterEvents = NO_EVENTS,
    ) -> None:
        self.events = events
        self.config = config
        self.settings = config.evaluation_settings()
        self.store = store
        self.quarantine = Quarantine(config.storage.quarantine_dir)
        self.workers = Workers(config.filter)
        self._io = io_executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="mailmon-io")
        self.reinject_host, self.reinject_port = split_hostport(config.filter.reinject)
        self.clamd = clamd_client(config)
        self.in_flight = 0
        self.closing = False
        self._sessions = Sessions()

    def close(self) -> None:
        self._sessions.close()
        self.workers.close()

    def reconfigure(self, config: Config) -> None:
        """SIGHUP: swap the whole policy at once; the worker processes keep running."""
        self.config = config
        self.settings = config.evaluation_settings()
        self.quarantine = Quarantine(config.storage.quarantine_dir)
        self.reinject_host, self.reinject_port = split_hostport(config.filter.reinject)
        self.clamd = clamd_client(config)
        self.workers.reconfigure(config.filter)

    def abort_in_flight(self) -> None:
        """At the end of the drain time, messages still being checked are answered 451."""
        self.closing = True
        self.workers.abort()

    async def _evaluate(self, spool: Spool, mail_from: str, rcpt_tos: tuple[str, ...]) -> Evaluation:
        return await self.workers.evaluate(spool, mail_from, rcpt_tos, self.settings)

    # -- aiosmtpd hooks ---------------------------------------------------------------------
    async def handle_exception(self, error: Exception) -> str:
        log.exception("filter error: %s", type(error).__name__, exc_info=error)
        return str(replies.R451_INTERNAL)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        spool: Spool = envelope.spool
        xforward: dict[str, str] = getattr(envelope, "xforward", {}) or {}
        utf8 = "SMTPUTF8" in (envelope.mail_options or ())
        if self.closing:
            return replies.for_client(str(replies.R451_SHUTDOWN), utf8)
        self.in_flight += 1
        try:
            reply = await self._handle(envelope, session, spool, xforward)
            if reply.startswith("451"):
                self.events.filter_fail_closed(_FAIL_REASONS.get(reply[4:9], "internal"))
            return replies.for_client(reply, utf8)
        finally:
            self.in_flight -= 1

    async def _handle(self, envelope: Any, session: Any, spool: Spool, xforward: dict[str, str]) -> str:
        mail_from = envelope.mail_from or ""
        rcpt_tos = tuple(envelope.rcpt_tos)
        queue_id = xforward.get("IDENT", "")
        scoring = asyncio.create_task(self._spam_score(spool, mail_from, rcpt_tos, xforward))
        try:
            try:
                evaluation = await self._evaluate(spool, mail_from, rcpt_tos)
            except TimeoutError:
                log.warning("scan timed out queue_id=%s size=%d", queue_id, spool.size)
                return str(replies.R451_SCAN_TIMEOUT)
            except WorkerFailed as exc:
                decided = await self._worker_failed(spool, queue_id, mail_from, rcpt_tos, str(exc))
                if decided is None:
                    return str(replies.R451_SCAN_TIMEOUT)
                evaluation = decided
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the connection itself is being torn down
                log.warning("stopping: queue_id=%s was not checked in time; 451, Postfix keeps it", queue_id)
                return str(replies.R451_SHUTDOWN)
            extra_headers = b""
            # clamd gets the attachments the worker found, decoded, while rspamd may still be scoring.
            av = await self._virus_scan(spool, evaluation, queue_id)
            if isinstance(av, str):  # clamd unavailable
                if not self.config.clamav.fail_open:
                    return str(replies.R451_CLAMD)  # fail closed: Postfix keeps the message and retries
                log.warning("fail_open: queue_id=%s passes without a virus scan (%s)", queue_id, av)
                extra_headers += field("X-Mailmon-Virus-Scan", "not scanned (clamd unavailable)")
                # Recorded as a virus-unscanned finding too, so the gap shows in the store and reports.
                av = AntivirusResult("unscanned", detail=f"clamd không trả lời / {av}")
            if av is not None:
                evaluation = with_antivirus(evaluation, av, self.settings)
            score = await scoring
            if isinstance(score, str):  # rspamd unavailable: every such message is counted
                self.events.spam_unscored("passed" if self.config.rspamd.fail_open else "deferred")
                if not self.config.rspamd.fail_open:
                    return str(replies.R451_RSPAMD)
                extra_headers += field("X-Mailmon-Spam-Scan", f"not scanned ({score[:120]})")
            elif score is not None:
                evaluation, spam_headers = rspamd.with_spam_score(evaluation, score, self.config.rspamd, self.settings)
                extra_headers += spam_headers
            meta = {
                "message_id": evaluation.message_id,
                "queue_id": queue_id,
                "client_addr": xforward.get("ADDR", session.peer[0] if session.peer else ""),
                "mail_from": mail_from,
                "rcpt_tos": list(rcpt_tos),
                "direction": evaluation.direction,
                "size": spool.size,
                "verdict": str(evaluation.verdict.action),
                "seconds": round(evaluation.seconds, 6),
            }
            action = evaluation.verdict.action
            if action in (Action.PASS, Action.TAG):
                held = await self._sending_window(evaluation, spool, mail_from, rcpt_tos, meta)
                if held:
                    return held
                return await self._deliver(envelope, spool, evaluation, meta, extra_headers)
            if action == Action.QUARANTINE:
                return await self._quarantine(spool, evaluation, meta)
            return await self._reject(spool, evaluation, meta)
        except Exception as exc:
            return await self.handle_exception(exc)
        finally:
            if not scoring.done():
                scoring.cancel()

    async def _worker_failed(
        self, spool: Spool, queue_id: str, mail_from: str, rcpt_tos: tuple[str, ...], reason: str
    ) -> Evaluation | None:
        """451 (None) the first time a message breaks a worker, its verdict the second (poison.py)."""
        failures = await poison.record_failure(self.store, self._io, spool, queue_id, reason)
        log.warning("worker failure %d queue_id=%s size=%d: %s", failures, queue_id, spool.size, reason)
        return poison.decided(failures, reason, mail_from, rcpt_tos, self.settings)

    # -- clamd (monitor/scanners/clamd.py) ------------------------------------------------------------
    async def _virus_scan(self, spool: Spool, evaluation: Evaluation, queue_id: str) -> AntivirusResult | str | None:
        """clamd's verdict, a reason string when clamd is unavailable, or None when not enabled."""
        client = self.clamd
        if client is None:
            return None
        reader = spool.open()
        try:
            return await scan_message(client, reader, spool.size, evaluation.attachment_ranges)
        except clamd.ClamdUnavailable as exc:
            log.warning("clamd unavailable queue_id=%s: %s", queue_id, exc)
            return f"clamd unavailable: {exc}"
        finally:
            reader.close()

    # -- rspamd (monitor/scanners/rspamd.py) -----------------------------------------------------------
    async def _spam_score(
        self, spool: Spool, mail_from: str, rcpt_tos: tuple[str, ...], xforward: dict[str, str]
    ) -> rspamd.SpamScore | str | None:
        """rspamd's verdict, a reason string when it is unavailable, or None when not configured."""
        cfg = self.config.rspamd
        if not cfg.url:
            return None
        reader = spool.open()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._io,
                lambda: rspamd.check(
                    cfg.url,
                    reader,
                    spool.size,
                    mail_from=mail_from,
                    rcpt_tos=list(rcpt_tos),
                    client_ip=xforward.get("ADDR", ""),
                    helo=xforward.get("HELO", ""),
                    queue_id=xforward.get("IDENT", ""),
                    timeout=cfg.timeout_seconds,
                ),
            )
        except rspamd.RspamdUnavailable as exc:
            log.warning("rspamd unavailable: %s", exc)
            return f"rspamd unavailable: {exc}"
        finally:
            reader.close()

    # -- sending windows (monitor/smtp/sending_windows.py) -------------------------------------------------
    def sender_of(self, mail_from: str, auth_sender: str = "") -> str | None:
        """Whose sending this is: the SASL login, else a local envelope sender; None for others."""
        if auth_sender:
            return auth_sender
        return mail_from.lower() if self.settings.domains.is_local(mail_from) else None

    def _limits(self) -> dict[str, sending_windows.Limits]:
        limits = dict(sending_windows.DEFAULT_LIMITS)
        for kind, window in self.config.ratelimit.limits.items():
            limits[kind] = sending_windows.Limits(**window.model_dump())
        return limits

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]) -> str:
        """A held sender's mail is refused before its body is sent (Postfix keeps it queued)."""
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        sender = self.sender_of(address)
        if sender and self.config.ratelimit.enabled:
            hold = await self.store.call(lambda store: sending_windows.held(store, sender, datetime.now(UTC)))
            if hold is not None:
                return replies.R451_HELD.with_detail(f"{hold.reason}; đến / until {hold.until:%H:%M %d/%m} UTC")
        return "250 OK"

    async def _sending_window(
        self, evaluation: Evaluation, spool: Spool, mail_from: str, rcpt_tos: tuple[str, ...], meta: dict[str, Any]
    ) -> str | None:
        if not self.config.ratelimit.enabled:
            return None
        # The SASL login as the local Postfix recorded it (monitor/smtp/sender_identity.py), never
        # an "Authenticated sender:" the sender wrote further down.
        login = postfix_login(spool.head(HEAD_BYTES), self.config.filter.postfix_hostname, meta["queue_id"])
        sender = self.sender_of(mail_from, login or "")
        if not sender:
            return None
        domains = self.settings.domains
        recipients = [(r, not domains.is_local(r)) for r in rcpt_tos]
        if not any(external for _, external in recipients) and evaluation.direction != "outbound":
            return None  # internal mail does not count towards the outbound windows
        now = datetime.now(UTC)
        hold = await self.store.call(lambda store: sending_windows.held(store, sender, now))
        if hold is not None:  # held already (its envelope sender may be someone else's address)
            log.warning("sender held sender=%s queue_id=%s: refused at DATA", sender, meta["queue_id"])
            return replies.R451_HELD.with_detail(f"{hold.reason}; đến / until {hold.until:%H:%M %d/%m} UTC")
        limits = self._limits()
        cooldown = timedelta(minutes=self.config.ratelimit.cooldown_minutes)
        # Counted by Postfix's queue id (or mailmon's own key), not by the sender's Message-ID.
        key = queue_key(meta["queue_id"])
        reason = await self.store.call(
            lambda store: sending_windows.record_and_check(store, sender, recipients, key, now, limits, cooldown)
        )
        if reason is None:
            return None
        spam = self.settings.profile.cite(TRAFFIC_RULES["spam"].finding(f"{sender}: {reason}"))
        hold_row = {**finding_rows((spam,))[0], "action": "hold"}
        await self._record({**meta, "verdict": "held"}, evaluation, f"sender held: {reason}", [hold_row])
        log.warning("sender held sender=%s queue_id=%s: %s", sender, meta["queue_id"], reason)
        return replies.R451_HELD.with_detail(reason)

    # -- outcomes ---------------------------------------------------------------------------
    async def _deliver(
        self, envelope: Any, spool: Spool, evaluation: Evaluation, meta: dict[str, Any], extra_headers: bytes = b""
    ) -> str:
        prepend = (tag_headers(evaluation) if evaluation.findings else b"") + extra_headers
        try:
            result = await reinject(
                self.reinject_host,
                self.reinject_port,
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options or ()),
                spool=spool,
                prepend=prepend,
                timeout=self.config.filter.reinject_timeout_seconds,
                local_hostname=self.config.filter.hostname,
                executor=self._io,
                # A 4xx for one recipient retries the whole message, never a partial delivery.
                all_or_nothing=True,
                sessions=self._sessions,
            )
        except ReinjectError as exc:
            log.warning(
                "re-injection failed queue_id=%s temporary=%s code=%s: %s",
                meta["queue_id"],
                exc.temporary,
                exc.code,
                exc.text,
            )
            if exc.temporary:
                return str(replies.R451_REINJECT)
            return replies.R554_REINJECT_REFUSED.with_detail(f"{exc.code} {exc.text}")
        outcome, kept = "delivered", None
        if result.refused:
            # Postfix refused some recipients for good (5xx): keep the message for them, never drop it.
            refused_meta = {**meta, "rcpt_tos": sorted(result.refused)}
            qid = await self.store.call(
                lambda store: self.quarantine.keep(
                    spool, store, {**refused_meta, "reason": f"re-injection refused: {result.refused}"}
                )
            )
            outcome, kept = f"delivered; undelivered copy kept as {qid}", qid
        await self._record(meta, evaluation, outcome, kept=kept)
        log.info(
            "delivered queue_id=%s message_id=%s verdict=%s rules=%s size=%d",
            meta["queue_id"],
            meta["message_id"],
            meta["verdict"],
            ",".join(f.rule for f in evaluation.findings) or "-",
            spool.size,
        )
        return replies.R250_DELIVERED.with_detail(result.text or "ok")

    async def _quarantine(self, spool: Spool, evaluation: Evaluation, meta: dict[str, Any]) -> str:
        reason = "; ".join(one_line(f) for f in evaluation.verdict.deciding)
        try:
            qid = await self.store.call(lambda store: self.quarantine.keep(spool, store, {**meta, "reason": reason}))
        except Exception:
            log.exception("quarantine failed queue_id=%s", meta["queue_id"])
            return str(replies.R451_STORE)
        await self._record(meta, evaluation, f"quarantined as {qid}", kept=qid)
        log.info("quarantined queue_id=%s id=%s rules=%s", meta["queue_id"], qid, _rules(evaluation))
        deciding = evaluation.verdict.deciding[0]
        return replies.R250_QUARANTINED.with_detail(f"{qid} ({deciding.rule}, {deciding.citation})")

    async def _reject(self, spool: Spool, evaluation: Evaluation, meta: dict[str, Any]) -> str:
        deciding = evaluation.verdict.deciding[0]
        outcome = "rejected"
        qid = None
        if self.config.filter.quarantine_rejected:
            try:
                qid = await self.store.call(
                    lambda store: self.quarantine.keep(
                        spool, store, {**meta, "reason": one_line(deciding), "status": "rejected"}
                    )
                )
                outcome = f"rejected; copy kept as {qid}"
            except Exception:
                log.exception("could not keep a copy of a rejected message queue_id=%s", meta["queue_id"])
        await self._record(meta, evaluation, outcome, kept=qid)
        log.info("rejected queue_id=%s rules=%s", meta["queue_id"], _rules(evaluation))
        return replies.policy_reject(
            f"{deciding.title.vi}: {deciding.detail}", deciding.title.en, deciding.rule, deciding.citation
        )

    async def _record(
        self,
        meta: dict[str, Any],
        evaluation: Evaluation,
        outcome: str,
        extra: list[dict[str, Any]] | None = None,
        kept: str | None = None,
    ) -> None:
        """Record the message and its findings; ``kept``: its quarantine entry, linked to the record."""
        rows = finding_rows(evaluation.findings) + (extra or [])
        self.events.message_filtered(meta["direction"], meta["verdict"], float(meta["seconds"]), int(meta["size"]))
        for row in rows:
            self.events.finding(row["rule"], row["action"])
        row = {**meta, "outcome": outcome}
        try:
            await self.store.call(lambda store: store.link_quarantine(kept, store.record_message(row, rows)))
        except Exception:
            # The message itself is safe (delivered or quarantined); losing the record is logged loudly.
            log.exception("could not record findings queue_id=%s", meta["queue_id"])


# The enhanced code of a 451 names what failed (monitor/smtp/replies.py).
_FAIL_REASONS = {"4.4.1": "reinject", "4.3.2": "timeout", "4.7.1": "dependency", "4.3.0": "internal"}


def _rules(evaluation: Evaluation) -> str:
    return ",".join(f.rule for f in evaluation.findings) or "-"
