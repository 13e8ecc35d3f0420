"""The TCP ports of one mail stack, all on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import socket
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from mailstack.util import HOST


@dataclass(frozen=True)
class Ports:
    """Every port a stack uses. ``Ports.free()`` picks unused ones so several stacks coexist."""

    smtp: int  # Postfix public smtpd, after-queue: every message goes to the content filter
    smtp_prequeue: int  # Postfix smtpd with smtpd_proxy_filter = 127.0.0.1:<filter>
    reinject: int  # Postfix re-injection smtpd (content_filter empty); the filter sends here
    filter: int  # where the content filter under test listens (the stack does not start it)
    lmtp: int  # Dovecot LMTP
    imap: int  # Dovecot IMAP
    sieve: int  # Dovecot ManageSieve
    sink: int  # capture sink for every non-local domain (aiosmtpd, in-process)
    clamd: int  # clamd TCP (only used with with_clamd=True)
    submission: int  # Postfix smtpd that takes only SASL-authenticated mail (Dovecot's auth)
    auth: int  # Dovecot's auth service, for Postfix's SASL (smtpd_sasl_type = dovecot)

    @classmethod
    def free(cls) -> Ports:
        """Ports the kernel reports free right now (bind to port 0, all at once, then release)."""
        names = [f.name for f in dataclasses.fields(cls)]
        with ExitStack() as stack:
            numbers = []
            for _ in names:
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((HOST, 0))
                numbers.append(sock.getsockname()[1])
        return cls(**dict(zip(names, numbers, strict=True)))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def write(self, path: Path) -> None:
        """Write the ports as JSON (atomically: readers never see a half-written file)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Ports:
        return cls(**json.loads(path.read_text()))
