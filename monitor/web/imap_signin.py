"""Is this the mailbox's password? Asked of the site's Dovecot, over IMAP: the console keeps no passwords.

The address and password go to ``[dovecot] imap`` as SASL PLAIN (base64, so any UTF-8 password
works), after STARTTLS with a verified certificate unless the server is on loopback (``[dovecot]
tls``, as the sweep decides). The standard library's imaplib does it in a thread, with a timeout
on every socket operation; the answer is True (Dovecot said OK), False (it said NO), or an
``Unavailable`` error when Dovecot could not be asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ssl

from monitor.config import Config, split_hostport
from monitor.mailboxes.sweep import tls_context

TIMEOUT_SECONDS = 10.0
MAX_ADDRESS = 254
MAX_PASSWORD = 1024


class Unavailable(Exception):
    """Dovecot could not be reached or did not speak IMAP as expected."""


def acceptable(address: str, password: str) -> bool:
    """Reject, before any network call, what cannot be a mailbox and password: control characters
    (a NUL would split the SASL message), overlong values, an address without a domain."""
    if not address or not password or len(address) > MAX_ADDRESS or len(password) > MAX_PASSWORD:
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in address + password):
        return False
    local, at, domain = address.rpartition("@")
    return bool(local and at and "." in domain and " " not in address)


def _check(host: str, port: int, context: ssl.SSLContext | None, address: str, password: str) -> bool:
    try:
        imap = imaplib.IMAP4(host, port, timeout=TIMEOUT_SECONDS)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise Unavailable(f"IMAP {host}:{port}: {exc}") from exc
    try:
        if context is not None:
            imap.starttls(context)
        credentials = b"\0" + address.encode("utf-8") + b"\0" + password.encode("utf-8")
        try:
            imap.authenticate("PLAIN", lambda _challenge: credentials)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            return False  # NO: wrong address or password (Dovecot says no more)
        return True
    except (OSError, ssl.SSLError, imaplib.IMAP4.error) as exc:
        raise Unavailable(f"IMAP {host}:{port}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


async def password_ok(config: Config, address: str, password: str) -> bool:
    """True when Dovecot accepts ``password`` for ``address``; raises Unavailable when it cannot be asked."""
    if not acceptable(address, password):
        return False
    host, port = split_hostport(config.dovecot.imap)
    context = tls_context(config.dovecot.tls, host)
    return await asyncio.to_thread(_check, host, port, context, address, password)
