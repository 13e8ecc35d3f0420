"""One sweep over every mailbox: quota and unread mail through IMAP, forwarding rules through
ManageSieve, both as Dovecot's master user (SASL PLAIN with the mailbox as authorization id).

imapclient and sievelib block, so each box is read in a worker thread of a bounded pool
(DEPS.md §3); a box that fails or runs out of time is recorded with its error and the sweep goes on.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from imapclient import IMAPClient
from sievelib.managesieve import Client as SieveClient

from monitor.config import Config, read_secret, split_hostport
from monitor.sieve_audit import parse_virtual_aliases, redirect_targets
from monitor.store import Store, utcnow


@dataclass
class BoxStatus:
    address: str
    quota_used_bytes: int | None = None
    quota_limit_bytes: int | None = None
    inbox_messages: int | None = None
    oldest_unseen: str | None = None
    sieve_forwards: list[str] = field(default_factory=list)
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "polled_at": utcnow(),
            "quota_used_bytes": self.quota_used_bytes,
            "quota_limit_bytes": self.quota_limit_bytes,
            "inbox_messages": self.inbox_messages,
            "oldest_unseen": self.oldest_unseen,
            "sieve_forwards": json.dumps(self.sieve_forwards),
            "error": self.error,
        }


@dataclass
class SweepReport:
    boxes: int = 0
    errors: int = 0
    seconds: float = 0.0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


class Poller:
    def __init__(self, config: Config) -> None:
        self.config = config
        d = config.dovecot
        self.master = d.master_user
        self.password = read_secret(d.master_password_file, "dovecot.master_password_file")
        self.imap = split_hostport(d.imap)
        self.sieve = split_hostport(d.managesieve)
        self.timeout = d.box_timeout_seconds
        self.tls = d.tls != "none" and not (d.tls == "auto" and _is_loopback(self.imap[0]))

    def poll(self, address: str) -> BoxStatus:
        status = BoxStatus(address)
        try:
            self._poll_imap(status)
            self._poll_sieve(status)
        except Exception as exc:  # one box must never stop the sweep
            status.error = f"{type(exc).__name__}: {exc}"[:500]
        return status

    def _poll_imap(self, status: BoxStatus) -> None:
        host, port = self.imap
        client = IMAPClient(host, port, ssl=False, timeout=self.timeout)
        try:
            if self.tls:
                client.starttls(ssl.create_default_context())  # verified: certificate and host name
            client.plain_login(self.master, self.password, authorization_identity=status.address)
            client.normalise_times = False
            if client.has_capability("QUOTA"):
                _, quotas = client.get_quota_root("INBOX")
                for quota in quotas:
                    if quota.resource.upper() == "STORAGE":
                        status.quota_used_bytes = int(quota.usage) * 1024  # STORAGE is in KiB
                        status.quota_limit_bytes = int(quota.limit) * 1024
            selected = client.select_folder("INBOX", readonly=True)  # EXAMINE: no \\Seen side effects
            status.inbox_messages = int(selected.get(b"EXISTS", 0))
            unseen = client.search(["UNSEEN"])
            if unseen:
                # The oldest by arrival: look at the first few UIDs rather than fetching them all.
                fetched = client.fetch(sorted(unseen)[:20], ["INTERNALDATE"])
                dates = [v[b"INTERNALDATE"] for v in fetched.values() if b"INTERNALDATE" in v]
                if dates:
                    oldest = min(d if d.tzinfo else d.replace(tzinfo=UTC) for d in dates)
                    status.oldest_unseen = oldest.isoformat()
        finally:
            try:
                client.logout()
            except Exception:  # the connection may already be gone; the error is recorded above
                client.shutdown()

    def _poll_sieve(self, status: BoxStatus) -> None:
        host, port = self.sieve
        client = SieveClient(host, port)
        client.read_timeout = int(self.timeout)
        with warnings.catch_warnings():
            # sievelib warns about plaintext credentials; tls="auto" allows that on loopback only.
            warnings.simplefilter("ignore", UserWarning)
            connected = client.connect(
                self.master, self.password, authz_id=status.address, starttls=self.tls, authmech="PLAIN"
            )
        if not connected:
            raise ConnectionError(f"ManageSieve login refused: {client.errmsg!r}")
        try:
            listed = client.listscripts()
            active = listed[0] if listed else None
            if active:
                script = client.getscript(active) or ""
                domains = self.config.organization
                status.sieve_forwards = [
                    t for t in redirect_targets(script) if t.startswith("${") or not _government(t, domains)
                ]
        finally:
            client.logout()


def _government(address: str, org: Any) -> bool:
    from rules.facts import Domains

    return Domains(tuple(org.local_domains), tuple(org.government_domains)).is_government(address)


def sweep(config: Config, store: Store, only: str | None = None) -> SweepReport:
    started = time.perf_counter()
    poller = Poller(config)
    if only:
        addresses = [only.lower()]
    else:
        addresses = [
            r["address"]
            for r in store.db.table("mailboxes").rows_where("status in ('active', 'suspended')", order_by="address")
        ]
    report = SweepReport(boxes=len(addresses))
    with ThreadPoolExecutor(max_workers=config.dovecot.sweep_concurrency, thread_name_prefix="sweep") as pool:
        results = list(pool.map(poller.poll, addresses))
    aliases: dict[str, list[str]] = {}
    for path in config.dovecot.virtual_alias_maps:
        aliases.update(parse_virtual_aliases(path.read_text("utf-8", "replace")))
    for result in results:
        for target in aliases.get(result.address, []):
            if not _government(target, config.organization):
                result.sieve_forwards.append(f"{target} (virtual_alias_maps)")
    last_logins = {}
    if config.dovecot.last_login_dict is not None:
        from zoneinfo import ZoneInfo

        from monitor.dovecot_log import read_last_login_dict

        last_logins = read_last_login_dict(config.dovecot.last_login_dict, ZoneInfo(config.organization.timezone))
    with store.db.atomic():
        store.db.table("mailbox_status").upsert_all((r.row() for r in results), pk="address")
        store.db.table("last_login").upsert_all(
            ({"user": u, "time": t.isoformat(), "source": "last_login dict"} for u, t in last_logins.items()),
            pk="user",
        )
    report.errors = sum(1 for r in results if r.error)
    report.seconds = time.perf_counter() - started
    return report
