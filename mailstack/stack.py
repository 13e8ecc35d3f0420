"""MailStack: Postfix + Dovecot + capture sink (+ clamd) on loopback, private to one directory."""

from __future__ import annotations

import atexit
import hashlib
import imaplib
import secrets
import shutil
import smtplib
import time
from collections.abc import Callable, Iterable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any

from mailstack.clamd import Clamd
from mailstack.dovecot import Dovecot, DovecotConfig
from mailstack.ports import Ports
from mailstack.postfix import Postfix, PostfixConfig
from mailstack.rspamd import Rspamd, _free_port
from mailstack.sieve import ManageSieve
from mailstack.sink import Sink, SinkMessage
from mailstack.util import (
    HOST,
    POLL_INTERVAL,
    StackError,
    check_traversable,
    port_open,
    rm_tree_contents,
    wait_ports_closed,
)

DEFAULT_DOMAIN = "example.gov.vn"
DEFAULT_MASTER_USER = ("monitor", "mastersecret")
CRLF_POLICY = policy.default.clone(linesep="\r\n")


def default_users(domain: str = DEFAULT_DOMAIN) -> dict[str, str]:
    """The two test mailboxes used by the reference setup."""
    return {f"hoant.stttt@{domain}": "secret1", f"vanphong@{domain}": "secret2"}


def message_bytes(msg: bytes | EmailMessage) -> bytes:
    """Raw message bytes; an EmailMessage is serialized with CRLF line endings."""
    if isinstance(msg, bytes):
        return msg
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


class MailStack:
    """A private, real mail stack on 127.0.0.1, everything kept under ``root``.

    * Postfix (``postfix -c root/postfix/etc``): ``ports.smtp`` sends every message to the content
      filter on ``ports.filter`` (after-queue, transport ``mailmon``); ``ports.smtp_prequeue`` uses
      it as ``smtpd_proxy_filter`` (before-queue); the filter hands mail back on
      ``ports.reinject``. Local domains go to Dovecot LMTP, everything else to the sink.
    * Dovecot (``dovecot -c root/dovecot/etc/dovecot.conf -F``): IMAP, LMTP, ManageSieve, quota,
      last_login (IMAP only), master user ``master_user`` (separator ``*``), Sieve redirects
      submitted back through ``ports.smtp``.
    * The capture sink (aiosmtpd in a thread of this process) and optionally clamd.

    The content filter itself is *not* started: run the filter under test on ``ports.filter``.

    ``root`` and all its parents must be traversable by the postfix/dovecot users and uid 5000.
    pytest's ``tmp_path`` sits under a 0700 directory and does not work; pass a directory such as
    ``tempfile.mkdtemp(prefix="mailstack-")`` under /tmp. ``start()`` chmods ``root`` to 0755
    itself and raises StackError if a parent is not traversable. Must run as root.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        ports: Ports | None = None,
        local_domains: Iterable[str] = (DEFAULT_DOMAIN,),
        users: dict[str, str] | None = None,
        master_user: tuple[str, str] = DEFAULT_MASTER_USER,
        with_clamd: bool = False,
        with_rspamd: bool = False,
        message_size_limit: int = 64 * 2**20,
        name: str | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        self.ports = ports if ports is not None else Ports.free()
        self.local_domains = tuple(d.lower() for d in local_domains)
        if not self.local_domains:
            raise ValueError("at least one local domain is needed")
        self.users = dict(users) if users is not None else default_users(self.local_domains[0])
        for address in self.users:
            if address.rpartition("@")[2].lower() not in self.local_domains:
                raise ValueError(f"user {address!r} is not in the local domains")
        self.postmaster = f"postmaster@{self.local_domains[0]}"
        # every mailbox Dovecot knows: the users plus postmaster (so notices get delivered)
        self.accounts = dict(self.users)
        self.accounts.setdefault(self.postmaster, secrets.token_urlsafe(12))
        self.master_user = master_user
        self.with_clamd = with_clamd
        self.message_size_limit = message_size_limit
        self.name = name or "ms" + hashlib.sha1(str(self.root).encode(), usedforsecurity=False).hexdigest()[:6]

        self.postfix = Postfix(
            self.root,
            PostfixConfig(
                ports=self.ports,
                local_domains=self.local_domains,
                mailboxes=list(self.accounts),
                message_size_limit=message_size_limit,
                syslog_name=f"postfix-{self.name}",
            ),
        )
        self.dovecot = Dovecot(
            self.root,
            DovecotConfig(
                ports=self.ports,
                local_domains=self.local_domains,
                accounts=self.accounts,
                master_user=master_user,
                instance_name=f"mailstack-{self.name}",
            ),
        )
        self.sink = Sink(self.root / "sink", self.ports.sink, message_size_limit)
        self.clamd = Clamd(self.root, self.ports.clamd) if with_clamd else None
        # rspamd's cold start takes seconds: only stacks that need it start it (its own free port).
        self.rspamd = Rspamd(self.root, _free_port()) if with_rspamd else None

        self.postfix_log: Path = self.postfix.log_path
        self.postfix_config_dir: Path = self.postfix.config_dir
        self.dovecot_log: Path = self.dovecot.log_path
        self.dovecot_conf: Path = self.dovecot.conf_path
        self.last_login_dict: Path = self.dovecot.last_login_dict
        self.sink_dir: Path = self.sink.directory
        self.clamd_log: Path | None = self.clamd.log_path if self.clamd else None
        self.clamd_conf: Path | None = self.clamd.conf_path if self.clamd else None
        self.started = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        """Write the configs, start sink, Dovecot, clamd (if asked) and Postfix, and wait until
        each answers. On failure everything already started is stopped, then StackError raised."""
        if self.started:
            raise StackError(f"the stack under {self.root} is already started")
        deadline = time.monotonic() + timeout
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        check_traversable(self.root)
        busy = {name: port for name, port in self._own_ports().items() if port_open(port)}
        if busy:
            raise StackError(f"ports already in use on {HOST}: {busy}")
        self.started = True
        atexit.register(self.stop)
        try:
            self.postfix.write_config()
            self.dovecot.write_config()
            if self.clamd is not None:
                self.clamd.write_config()
            self.sink.start()
            self.dovecot.start(deadline)
            if self.clamd is not None:
                self.clamd.start(deadline)
            if self.rspamd is not None:
                self.rspamd.start(deadline + 60)
            self.postfix.start(deadline + (60 if self.rspamd is not None else 0))
        except BaseException as exc:
            try:
                self.stop(timeout=3)
            except Exception as cleanup:
                exc.add_note(f"stopping what had started also failed: {cleanup}")
            if isinstance(exc, Exception) and not isinstance(exc, StackError):
                raise StackError(f"starting the stack failed: {type(exc).__name__}: {exc}") from exc
            raise

    def stop(self, timeout: float = 15) -> None:
        """Stop everything this object started and wait until the ports are closed.
        Safe to call repeatedly."""
        if not self.started:
            return
        self.started = False
        atexit.unregister(self.stop)
        errors: list[str] = []
        for component in (self.postfix, self.dovecot, self.clamd, self.rspamd, self.sink):
            if component is None:
                continue
            try:
                component.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{type(component).__name__}: {exc}")
        still_open = wait_ports_closed(self._own_ports().values(), timeout)
        if still_open:
            errors.append(f"ports still open after stop: {still_open}")
        if errors:
            raise StackError("; ".join(errors))

    def _own_ports(self) -> dict[str, int]:
        """The ports this stack listens on (all but ``filter``; ``clamd`` only if used)."""
        own = self.ports.as_dict()
        del own["filter"]
        if self.clamd is None:
            del own["clamd"]
        return own

    def __enter__(self) -> MailStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- sending and the queue -------------------------------------------------------------
    def send(
        self,
        msg: bytes | EmailMessage,
        mail_from: str,
        rcpt_tos: list[str],
        *,
        port: int | None = None,
        timeout: float = 120,
        login: str | None = None,
    ) -> dict[str, tuple[int, bytes]]:
        """Send with smtplib to ``port`` (default ``ports.smtp``); returns the refused-recipients
        dict and raises smtplib errors (e.g. SMTPDataError for a before-queue 550).
        ``login``: authenticate as that user (its password from ``users``) on ``ports.submission``."""
        port = port or (self.ports.submission if login else self.ports.smtp)
        with smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=timeout) as smtp:
            if login:
                smtp.login(login, self._password(login))
            return smtp.sendmail(mail_from, rcpt_tos, message_bytes(msg))

    def flush_queue(self) -> None:
        """``postqueue -f``: retry every deferred message now."""
        self.postfix.flush()

    def queue(self) -> list[dict[str, Any]]:
        """``postqueue -j``, one dict per queued message (queue_name, queue_id, recipients...)."""
        return self.postfix.queue()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 20, what: str = "") -> None:
        """Poll ``predicate`` until true; TimeoutError naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {what or predicate}")
            time.sleep(POLL_INTERVAL)

    # --- mailboxes and the sink --------------------------------------------------------------
    def maildir(self, address: str) -> Path:
        return self.dovecot.maildir(address)

    def delivered(self, address: str) -> list[EmailMessage]:
        """Messages in ``address``'s Maildir (new + cur), oldest first."""
        maildir = self.dovecot.maildir(address)
        files = [f for sub in ("new", "cur") for f in (maildir / sub).glob("*") if f.is_file()]
        files.sort(key=lambda f: (f.stat().st_mtime_ns, f.name))
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(f.read_bytes()) for f in files]

    def sink_messages(self) -> list[SinkMessage]:
        """Mail Postfix relayed to non-local domains, in arrival order."""
        return self.sink.messages()

    def clear(self, *, keep_sieve: bool = False) -> None:
        """Delete the Postfix queue, every mailbox's Maildir (and Sieve scripts unless
        ``keep_sieve``) and the sink's messages: a clean slate between tests."""
        if self.started:
            self.postfix.delete_all()
        for address in self.accounts:
            home = self.dovecot.home(address)
            if keep_sieve:
                shutil.rmtree(self.dovecot.maildir(address), ignore_errors=True)
            else:
                rm_tree_contents(home)
        self.sink.clear()

    # --- Dovecot helpers -------------------------------------------------------------------
    def put_sieve_script(self, address: str, name: str, script: str, *, activate: bool = True) -> None:
        """Upload ``script`` over ManageSieve as the user (PUTSCRIPT, then SETACTIVE)."""
        with ManageSieve(self.ports.sieve) as ms:
            ms.authenticate(address, self._password(address))
            ms.putscript(name, script)
            if activate:
                ms.setactive(name)

    def managesieve(self, address: str, *, as_master: bool = False) -> ManageSieve:
        """A logged-in ManageSieve connection for ``address`` (or the master user acting as it)."""
        ms = ManageSieve(self.ports.sieve)
        try:
            if as_master:
                ms.authenticate(self.master_user[0], self.master_user[1], authz=address)
            else:
                ms.authenticate(address, self._password(address))
        except BaseException:
            ms.close()
            raise
        return ms

    def imap(self, address: str, *, as_master: bool = False) -> imaplib.IMAP4:
        """A logged-in IMAP connection for ``address`` (master login: ``address*monitor``)."""
        conn = imaplib.IMAP4(HOST, self.ports.imap, timeout=30)
        try:
            if as_master:
                conn.login(f"{address}*{self.master_user[0]}", self.master_user[1])
            else:
                conn.login(address, self._password(address))
        except BaseException:
            conn.shutdown()
            raise
        return conn

    def doveadm(self, *args: str) -> str:
        """``doveadm -c <this dovecot.conf> ARGS``, e.g. ``doveadm("quota", "get", "-A")``."""
        return self.dovecot.doveadm(*args)

    def _password(self, address: str) -> str:
        try:
            return self.accounts[address]
        except KeyError:
            raise KeyError(f"{address!r} is not a mailbox of this stack") from None
