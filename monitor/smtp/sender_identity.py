"""Whose sending a message is, from what the local Postfix states and nothing the sender wrote.

Postfix's smtpd, with ``smtpd_sasl_authenticated_header = yes``, writes the SASL login into the
Received field it prepends: ``Received: from … (Authenticated sender: login) by <myhostname>
(Postfix) with ESMTPSA id <queue id> …``. A sender can write any number of Received fields of
its own, but they all come below that one. So the login is taken from the topmost Received field
only, and only when that field says ``by <[filter] postfix_hostname>`` and carries the queue id
Postfix passed through XFORWARD (when it did): a field the sender wrote cannot name a queue id
that did not exist when the message was written. Why this and not a Postfix policy service:
docs/sender-identity.md.

How a message is counted is Postfix's and mailmon's business too: its queue id (``queue_key``),
or when there is none a key mailmon makes for the transaction; never the sender's Message-ID.
"""

from __future__ import annotations

import re
import secrets

HEAD_BYTES = 256 * 1024  # a header block is at most [inspection] max_header_bytes in practice

_BY = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)
_ID = re.compile(r"\bid\s+([A-Za-z0-9]+)", re.IGNORECASE)
_AUTH = re.compile(r"\(Authenticated sender:\s*([^)\s]+)\)", re.IGNORECASE)


def topmost_received(head: bytes) -> str | None:
    """The first Received field of the header block, unfolded; None if there is none."""
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if not line.strip():
            return None  # end of the header block
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"received":
            parts = [value]
            for more in lines[i + 1 :]:
                if more[:1] not in (b" ", b"\t"):
                    break
                parts.append(more)
            return " ".join(b" ".join(parts).decode("utf-8", "replace").split())
    return None


def postfix_login(head: bytes, postfix_hostname: str, queue_id: str) -> str | None:
    """The SASL login the local Postfix recorded for this message, or None (not authenticated, or
    the topmost Received field is not Postfix's own for this queue id)."""
    if not postfix_hostname:
        return None
    received = topmost_received(head)
    if received is None:
        return None
    by = _BY.search(received)
    if by is None or by.group(1).lower() != postfix_hostname.lower():
        return None
    if queue_id:
        ident = _ID.search(received)
        if ident is None or ident.group(1) != queue_id:
            return None
    auth = _AUTH.search(received[: by.start()])  # Postfix writes the comment before "by"
    return auth.group(1).lower() if auth else None


def queue_key(queue_id: str) -> str:
    """What counts one message in the sending windows: Postfix's queue id (a retry of the same queue
    file counts once), else a key of mailmon's own for this transaction."""
    return f"postfix:{queue_id}" if queue_id else f"mailmon:{secrets.token_hex(8)}"
