"""The alert outbox: mails queued in the store and sent with retries, so none is lost to a relay outage."""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.store import AsyncStore, Store

if TYPE_CHECKING:
    from exporters.metrics.instruments import Metrics

log = logging.getLogger(__name__)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutgoingMail:
    kind: str
    unit: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    dedup_key: str = ""


def enqueue(store: Store, mail: OutgoingMail, now: datetime, dedup_window: timedelta = timedelta(days=1)) -> int | None:
    """Queue one mail; None if a mail with the same dedup key was queued within ``dedup_window``."""
    domain = mail.to[0].rpartition("@")[2] if mail.to else None
    row = {
        "created_at": iso(now),
        "kind": mail.kind,
        "unit": mail.unit,
        "dedup_key": mail.dedup_key,
        "to_addrs": list(mail.to),
        "subject": mail.subject,
        "text": mail.text,
        "html": mail.html,
        "message_id": make_msgid("mailmon", domain=domain or None),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": iso(now),
        "last_error": "",
        "sent_at": None,
    }
    return store.outbox.enqueue(row, iso(now - dedup_window))


def outbox(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    return store.outbox.mails(status)


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Result:
    id: int
    kind: str
    outcome: str  # sent | deferred | failed
    error: str = ""


class OutboxSender:
    """Sends due outbox mails through one relay: STARTTLS with a verified context and AUTH if configured.

    A mail is marked sent only after the relay's 250 for DATA; any other outcome leaves it pending
    with ``next_attempt_at`` pushed back exponentially (``base_delay`` doubling up to ``max_delay``),
    each mail on its own. A permanent refusal (5xx), or ``max_attempts`` temporary failures (12:
    about seven hours of trying), puts it in the dead-letter state ``failed``: kept for the operator,
    counted in ``mailmon_alert_outbox_dead_letters``, never tried again. A mail that breaks the
    session (the relay answers 421 or drops the connection) does not take the others with it: the
    next mail gets a new session.
    """

    def __init__(
        self,
        relay: str,
        starttls: bool,
        username: str | None,
        password_file: Path | None,
        from_address: str,
        *,
        timeout: float = 30.0,
        base_delay: timedelta = timedelta(minutes=1),
        max_delay: timedelta = timedelta(hours=1),
        max_attempts: int = 12,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        host, _, port = relay.rpartition(":")
        self.host, self.port = host.strip("[]") or "127.0.0.1", int(port or 25)
        self.starttls, self.username, self.password_file = starttls, username, password_file
        self.from_address, self.timeout = from_address, timeout
        self.base_delay, self.max_delay, self.max_attempts = base_delay, max_delay, max_attempts
        self.ssl_context, self.local_hostname, self.metrics = ssl_context, local_hostname, metrics

    # -- the three steps, so the daemon keeps SMTP off its store thread -----------------------------
    def due(self, store: Store, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        return store.outbox.due(iso(now), limit)

    def send(self, rows: Sequence[dict[str, Any]]) -> list[_Result]:
        """Deliver ``rows`` over one SMTP session; never raises for SMTP or network trouble."""
        if not rows:
            return []
        try:
            smtp = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            error = f"relay {self.host}:{self.port}: {exc}"
            log.warning("alert relay unavailable: %s", error)
            return [_Result(r["id"], r["kind"], "deferred", error) for r in rows]
        results = []
        session: smtplib.SMTP | None = smtp
        try:
            for row in rows:
                if session is None:  # the previous mail broke the session: a new one for this mail
                    try:
                        session = self._connect()
                    except (OSError, smtplib.SMTPException) as exc:
                        results.append(_Result(row["id"], row["kind"], "deferred", f"relay: {exc}"))
                        continue
                results.append(self._send_one(session, row))
                if session.sock is None:  # smtplib closed it (a 421, a dropped connection)
                    session = None
        finally:
            if session is not None:
                try:
                    session.quit()
                except (OSError, smtplib.SMTPException):
                    session.close()
        return results

    def record(self, store: Store, results: Sequence[_Result], now: datetime) -> SendReport:
        report = SendReport()
        for result in results:
            {"sent": report.sent, "failed": report.failed}.get(result.outcome, report.deferred).append(result.id)

        def next_attempt(attempts: int) -> str:
            return iso(now + min(self.max_delay, self.base_delay * 2 ** (attempts - 1)))

        given_up = store.outbox.record_attempts(
            [(r.id, r.outcome, r.error) for r in results], iso(now), next_attempt, self.max_attempts
        )
        # Retried long enough: the dead-letter state.
        report.deferred = [i for i in report.deferred if i not in given_up]
        report.failed += given_up
        if self.metrics is not None:
            for result in results:
                if result.outcome == "sent":
                    self.metrics.alert_sent(result.kind)
                else:
                    self.metrics.alert_failed(result.kind)
        return report

    def send_pending(self, store: Store, now: datetime | None = None) -> SendReport:
        """due → send → record in the calling thread (CLI, tests)."""
        moment = now or datetime.now(UTC)
        return self.record(store, self.send(self.due(store, moment)), moment)

    async def flush(self, store: AsyncStore) -> SendReport:
        """The daemon's job: store work on the store thread, SMTP on a worker thread."""
        now = datetime.now(UTC)
        rows = await store.call(lambda s: self.due(s, now))
        results = await asyncio.to_thread(self.send, rows)
        return await store.call(lambda s: self.record(s, results, datetime.now(UTC)))

    # -- SMTP ----------------------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.starttls:
                # Verified: hostname and chain checked (create_default_context), never a bare SSLContext.
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                secret = self.password_file.read_text("utf-8").strip() if self.password_file else ""
                smtp.login(self.username, secret)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_one(self, smtp: smtplib.SMTP, row: dict[str, Any]) -> _Result:
        message = self._message(row)
        try:
            refused = smtp.send_message(message, self.from_address, json.loads(row["to_addrs"]))
        except smtplib.SMTPRecipientsRefused as exc:
            return _Result(row["id"], row["kind"], _permanent(exc.recipients), f"refused: {exc.recipients}")
        except smtplib.SMTPResponseException as exc:
            outcome = "failed" if 500 <= exc.smtp_code < 600 else "deferred"
            return _Result(row["id"], row["kind"], outcome, f"{exc.smtp_code} {exc.smtp_error!r}")
        except (OSError, smtplib.SMTPException) as exc:
            return _Result(row["id"], row["kind"], "deferred", str(exc) or type(exc).__name__)
        # send_message returned: the relay answered 250 to DATA, the mail is its responsibility now.
        note = f"some recipients refused: {refused}" if refused else ""
        return _Result(row["id"], row["kind"], "sent", note)

    def _message(self, row: dict[str, Any]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.from_address
        msg["To"] = ", ".join(json.loads(row["to_addrs"]))
        msg["Subject"] = row["subject"]
        msg["Date"] = format_datetime(datetime.fromisoformat(row["created_at"]))
        msg["Message-ID"] = row["message_id"]
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, no vacation loops
        msg["X-Mailmon-Kind"] = row["kind"]
        msg.set_content(row["text"])
        if row["html"]:
            msg.add_alternative(row["html"], subtype="html")
        return msg


def _permanent(recipients: dict[str, tuple[int, bytes]]) -> str:
    codes = [code for code, _ in recipients.values()]
    return "failed" if codes and all(500 <= c < 600 for c in codes) else "deferred"
