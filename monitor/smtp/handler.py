"""The SMTP content filter's aiosmtpd hooks and the outcome of each message.

A message is evaluated in a worker process (workers.py), then scanned by clamd and scored by rspamd
(monitor/scanners), checked against its sender's sending windows (sending_windows.py), and then
delivered (re-injected into Postfix), quarantined or rejected. It is answered 250 only after
Postfix answered 250 for it or it is durably in quarantine; a reject is explained in one line with
the rule and its clause; any doubt (a timeout, a crash, a dependency down) is a 451 naming what
failed, so that Postfix keeps the message.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
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
from monitor.smtp.records import Recorder
from monitor.smtp.reinject import ReinjectError, Sessions, reinject
from monitor.smtp.replies import Answer
from monitor.smtp.sender_identity import HEAD_BYTES, postfix_login, queue_key
from monitor.smtp.spool import Spool
from monitor.smtp.workers import WorkerFailed, Workers
from monitor.store import AsyncStore, MessageRecord
from monitor.store.pending import PendingWrites
from rules import TRAFFIC_RULES
from rules.base import Action
from rules.facts import AntivirusResult

log = logging.getLogger("mailmon.filter")

SUMMARY_HEADER = "X-Mailmon"


def tag_headers(evaluation: Evaluation) -> bytes:
    """Header fields naming the findings of a delivered message, one per finding (added_headers.field:
    no control characters, RFC 2047 for what is not ASCII)."""
    out = field(SUMMARY_HEADER, f"{evaluation.verdict.action} ({len(evaluation.findings)} findings)")
    for finding in evaluation.findings:
        detail = " ".join(finding.detail.split())[:300]
        out += field("X-Mailmon-Finding", f"{finding.rule}; {finding.citation}; {finding.action}; {detail}")
    return out


class FilterHandler:
    """aiosmtpd handler: evaluate in a worker process, then deliver, quarantine or reject."""

    def __init__(
        self,
        config: Config,
        store: AsyncStore,
        *,
        io_executor: Executor | None = None,
        events: FilterEvents = NO_EVENTS,
        pending: PendingWrites | None = None,
    ) -> None:
        self.events = events
        self.config = config
        self.settings = config.evaluation_settings()
        self.store = store
        pending = pending if pending is not None else PendingWrites(store)  # (an empty one is falsy)
        self.recorder = Recorder(store, self.settings.domains, events, pending)
        self.quarantine = Quarantine.of(config)
        self.workers = Workers(config.filter)
        self._io = io_executor or ThreadPoolExecutor(max_workers=16, thread_name_prefix="mailmon-io")
        self.reinject_host, self.reinject_port = split_hostport(config.filter.reinject)
        self.clamd = clamd_client(config)
        self.windows = sending_windows.windows(config.ratelimit)
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
        self.recorder.domains = self.settings.domains
        self.quarantine = Quarantine.of(config)
        self.reinject_host, self.reinject_port = split_hostport(config.filter.reinject)
        self.clamd = clamd_client(config)
        self.windows = sending_windows.windows(config.ratelimit)
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
            answer = replies.R451_SHUTDOWN.answer()
        else:
            self.in_flight += 1
            try:
                answer = await self._handle(envelope, session, spool, xforward)
            finally:
                self.in_flight -= 1
        if answer.fail_reason:
            self.events.filter_fail_closed(answer.fail_reason)
        return replies.for_client(answer.text, utf8)

    async def _handle(self, envelope: Any, session: Any, spool: Spool, xforward: dict[str, str]) -> Answer:
        mail_from = envelope.mail_from or ""
        rcpt_tos = tuple(envelope.rcpt_tos)
        queue_id = xforward.get("IDENT", "")
        scoring = asyncio.create_task(self._spam_score(spool, mail_from, rcpt_tos, xforward))
        try:
            try:
                evaluation = await self._evaluate(spool, mail_from, rcpt_tos)
            except TimeoutError:
                log.warning("scan timed out queue_id=%s size=%d", queue_id, spool.size)
                return replies.R451_SCAN_TIMEOUT.answer()
            except WorkerFailed as exc:
                failed = await poison.on_failure(
                    self.store, self._io, spool, queue_id, str(exc), mail_from, rcpt_tos, self.settings
                )
                if isinstance(failed, Answer):
                    return failed
                evaluation = failed
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # the connection itself is being torn down
                log.warning("stopping: queue_id=%s was not checked in time; 451, Postfix keeps it", queue_id)
                return replies.R451_SHUTDOWN.answer()
            extra_headers = b""
            # clamd gets the attachments the worker found, decoded, while rspamd may still be scoring.
            try:
                av = await self._virus_scan(spool, evaluation)
            except clamd.ClamdUnavailable as exc:
                log.warning("clamd unavailable queue_id=%s: %s", queue_id, exc)
                if not self.config.clamav.fail_open:
                    return replies.R451_CLAMD.answer()  # fail closed: Postfix keeps the message and retries
                log.warning("fail_open: queue_id=%s passes without a virus scan", queue_id)
                extra_headers += field("X-Mailmon-Virus-Scan", "not scanned (clamd unavailable)")
                # Recorded as a virus-unscanned finding too, so the gap shows in the store and reports.
                av = AntivirusResult("unscanned", detail=f"clamd không trả lời / clamd unavailable: {exc}")
            if av is not None:
                evaluation = with_antivirus(evaluation, av, self.settings)
            try:
                score = await scoring
            except rspamd.RspamdUnavailable as exc:
                log.warning("rspamd unavailable queue_id=%s: %s", queue_id, exc)
                # Every message that goes unscored is counted, whether it passes or waits.
                self.events.spam_unscored("passed" if self.config.rspamd.fail_open else "deferred")
                if not self.config.rspamd.fail_open:
                    return replies.R451_RSPAMD.answer()
                extra_headers += field("X-Mailmon-Spam-Scan", f"not scanned (rspamd unavailable: {str(exc)[:100]})")
                score = None
            if score is not None:
                evaluation, spam_headers = rspamd.with_spam_score(evaluation, score, self.config.rspamd, self.settings)
                extra_headers += spam_headers
            message = MessageRecord(
                message_id=evaluation.message_id,
                queue_id=queue_id,
                client_addr=xforward.get("ADDR", session.peer[0] if session.peer else ""),
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                direction=evaluation.direction,
                size=spool.size,
                verdict=str(evaluation.verdict.action),
                seconds=round(evaluation.seconds, 6),
            )
            action = evaluation.verdict.action
            if action in (Action.PASS, Action.TAG):
                held = await self._sending_window(spool, message)
                if held:
                    return held
                return await self._deliver(envelope, spool, evaluation, message, extra_headers)
            if action == Action.QUARANTINE:
                return await self._quarantine(spool, evaluation, message)
            return await self._reject(spool, evaluation, message)
        except Exception as exc:
            return Answer(await self.handle_exception(exc), replies.R451_INTERNAL.fail_reason)
        finally:
            if not scoring.done():
                scoring.cancel()

    # -- clamd (monitor/scanners/clamd.py) ------------------------------------------------------------
    async def _virus_scan(self, spool: Spool, evaluation: Evaluation) -> AntivirusResult | None:
        """clamd's verdict, or None when scanning is off; raises ClamdUnavailable when clamd is down."""
        client = self.clamd
        if client is None:
            return None
        reader = spool.open()
        try:
            result = await scan_message(client, reader, spool.size, evaluation.attachment_ranges)
        except clamd.ClamdUnavailable:
            self.events.dependency_up("clamd", False)
            raise
        finally:
            reader.close()
        self.events.dependency_up("clamd", True)
        return result

    # -- rspamd (monitor/scanners/rspamd.py) -----------------------------------------------------------
    async def _spam_score(
        self, spool: Spool, mail_from: str, rcpt_tos: tuple[str, ...], xforward: dict[str, str]
    ) -> rspamd.SpamScore | None:
        """rspamd's verdict, or None when not configured; raises RspamdUnavailable when rspamd is down."""
        cfg = self.config.rspamd
        if not cfg.url:
            return None
        reader = spool.open()
        try:
            score = await asyncio.get_running_loop().run_in_executor(
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
        except rspamd.RspamdUnavailable:
            self.events.dependency_up("rspamd", False)
            raise
        finally:
            reader.close()
        self.events.dependency_up("rspamd", True)
        return score

    # -- sending windows (monitor/smtp/sending_windows.py) -------------------------------------------------
    def sender_of(self, mail_from: str, auth_sender: str = "") -> str | None:
        """Whose sending this is: the SASL login, else a local envelope sender; None for others."""
        if auth_sender:
            return auth_sender
        return mail_from.lower() if self.settings.domains.is_local(mail_from) else None

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

    async def _sending_window(self, spool: Spool, message: MessageRecord) -> Answer | None:
        if not self.config.ratelimit.enabled:
            return None
        # The SASL login as the local Postfix recorded it (monitor/smtp/sender_identity.py), never
        # an "Authenticated sender:" the sender wrote further down.
        login = postfix_login(spool.head(HEAD_BYTES), self.config.filter.postfix_hostname, message.queue_id)
        sender = self.sender_of(message.mail_from, login or "")
        if not sender:
            return None
        now = datetime.now(UTC)
        hold = await self.store.call(lambda store: sending_windows.held(store, sender, now))
        if hold is not None:  # held already (its envelope sender may be someone else's address)
            log.warning("sender held sender=%s queue_id=%s: refused at DATA", sender, message.queue_id)
            return replies.R451_HELD.answer(f"{hold.reason}; đến / until {hold.until:%H:%M %d/%m} UTC")
        domains = self.settings.domains
        recipients = [(r, not domains.is_local(r)) for r in message.rcpt_tos]
        if not any(external for _, external in recipients) and message.direction != "outbound":
            return None  # internal mail does not count towards the outbound windows
        cooldown = timedelta(minutes=self.config.ratelimit.cooldown_minutes)
        windows = self.windows
        # Counted by Postfix's queue id (or mailmon's own key), not by the sender's Message-ID.
        key = queue_key(message.queue_id)
        try:
            reason = await self.store.call(
                lambda store: sending_windows.record_and_check(store, sender, recipients, key, now, windows, cooldown)
            )
        except Exception:
            log.exception("sending windows: could not count queue_id=%s", message.queue_id)
            return replies.R451_STORE.answer()
        if reason is None:
            return None
        spam = self.settings.profile.cite(TRAFFIC_RULES["spam"].finding(f"{sender}: {reason}", mailbox=sender))
        held = replace(message, verdict="held", outcome=f"sender held: {reason}")
        await self.recorder.record(held, [spam], action="hold")
        log.warning("sender held sender=%s queue_id=%s: %s", sender, message.queue_id, reason)
        return replies.R451_HELD.answer(reason)

    # -- outcomes ---------------------------------------------------------------------------
    async def _deliver(
        self, envelope: Any, spool: Spool, evaluation: Evaluation, message: MessageRecord, extra_headers: bytes = b""
    ) -> Answer:
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
                message.queue_id,
                exc.temporary,
                exc.code,
                exc.text,
            )
            # A permanent refusal is Postfix answering: the re-injection port itself works.
            self.events.dependency_up("reinject", not exc.temporary)
            if exc.temporary:
                return replies.R451_REINJECT.answer()
            return Answer(replies.R554_REINJECT_REFUSED.with_detail(f"{exc.code} {exc.text}"))
        self.events.dependency_up("reinject", True)
        outcome, kept = "delivered", None
        if result.refused:
            # Postfix refused some recipients for good (5xx): keep the message for them, never drop it.
            entry = {
                **_index_entry(message),
                "rcpt_tos": sorted(result.refused),
                "reason": f"re-injection refused: {result.refused}",
            }
            qid = await self.store.call(lambda store: self.quarantine.keep(spool, store, entry))
            outcome, kept = f"delivered; undelivered copy kept as {qid}", qid
        await self.recorder.record(replace(message, outcome=outcome), evaluation.findings, kept=kept)
        log.info(
            "delivered queue_id=%s message_id=%s verdict=%s rules=%s size=%d",
            message.queue_id,
            message.message_id,
            message.verdict,
            _rules(evaluation),
            spool.size,
        )
        return replies.R250_DELIVERED.answer(result.text or "ok")

    async def _quarantine(self, spool: Spool, evaluation: Evaluation, message: MessageRecord) -> Answer:
        reason = "; ".join(one_line(f) for f in evaluation.verdict.deciding)
        entry = {**_index_entry(message), "reason": reason}
        try:
            qid = await self.store.call(lambda store: self.quarantine.keep(spool, store, entry))
        except Exception:
            log.exception("quarantine failed queue_id=%s", message.queue_id)
            return replies.R451_STORE.answer()
        await self.recorder.record(replace(message, outcome=f"quarantined as {qid}"), evaluation.findings, kept=qid)
        log.info("quarantined queue_id=%s id=%s rules=%s", message.queue_id, qid, _rules(evaluation))
        deciding = evaluation.verdict.deciding[0]
        return replies.R250_QUARANTINED.answer(f"{qid} ({deciding.rule}, {deciding.citation})")

    async def _reject(self, spool: Spool, evaluation: Evaluation, message: MessageRecord) -> Answer:
        deciding = evaluation.verdict.deciding[0]
        outcome, qid = "rejected", None
        if self.config.filter.quarantine_rejected:
            entry = {**_index_entry(message), "reason": one_line(deciding), "status": "rejected"}
            try:
                qid = await self.store.call(lambda store: self.quarantine.keep(spool, store, entry))
                outcome = f"rejected; copy kept as {qid}"
            except Exception:
                log.exception("could not keep a copy of a rejected message queue_id=%s", message.queue_id)
        await self.recorder.record(replace(message, outcome=outcome), evaluation.findings, kept=qid)
        log.info("rejected queue_id=%s rules=%s", message.queue_id, _rules(evaluation))
        return Answer(
            replies.policy_reject(
                f"{deciding.title.vi}: {deciding.detail}", deciding.title.en, deciding.rule, deciding.citation
            )
        )


def _index_entry(message: MessageRecord) -> dict[str, Any]:
    """The quarantine index columns a message record fills."""
    return {
        "message_id": message.message_id,
        "queue_id": message.queue_id,
        "mail_from": message.mail_from,
        "rcpt_tos": list(message.rcpt_tos),
        "direction": message.direction,
        "verdict": message.verdict,
    }


def _rules(evaluation: Evaluation) -> str:
    return ",".join(f.rule for f in evaluation.findings) or "-"
