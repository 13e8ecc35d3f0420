"""The header fields mailmon writes into a message, and the ones a sender must not write for it.

Downstream (a mail client, another filter, a report) an ``X-Mailmon-*`` field is read as mailmon's
word. So every such field that arrives with a message is removed before re-injection
(``strip_fields``), and what mailmon adds is built by ``field``: control characters (C0, DEL,
C1, and invisible format characters such as bidirectional overrides) become spaces, so a file
name or a scanner's error text can neither start a new header line nor hide text; a value that is
not plain ASCII (Vietnamese detail, a citation's "Đ") is sent as RFC 2047 encoded-words in UTF-8,
folded to RFC 5322's line length, so the header block stays 7-bit.
"""

from __future__ import annotations

import unicodedata
from email.header import Header

MAILMON_PREFIX = "x-mailmon"


def is_mailmon_field(name: bytes) -> bool:
    """``X-Mailmon`` or ``X-Mailmon-…``, in any case, with or without spaces before the colon."""
    lowered = name.strip().lower()
    return lowered == b"x-mailmon" or lowered.startswith(b"x-mailmon-")


def _visible(value: str) -> str:
    out = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in value)
    return " ".join(out.split())


def field(name: str, value: str) -> bytes:
    """One complete header field (ending in CRLF) that is safe to add whatever ``value`` holds."""
    if not name.isascii() or not name.replace("-", "").isalnum():
        raise ValueError(f"not a header field name: {name!r}")
    clean = _visible(value)
    # "=?" in plain text would be decoded by readers as an encoded-word: encode such values too.
    charset = "us-ascii" if clean.isascii() and "=?" not in clean else "utf-8"
    encoded = Header(clean, charset=charset, header_name=name, maxlinelen=78).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def strip_fields(block: bytes) -> bytes:
    """``block`` (header lines with CRLF line ends) without the ``X-Mailmon`` fields, folded lines included."""
    if b"x-mailmon" not in block.lower():
        return block
    out: list[bytes] = []
    dropping = False
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):  # a continuation of the field before
            if not dropping:
                out.append(line)
            continue
        name, colon, _ = line.partition(b":")
        dropping = bool(colon) and is_mailmon_field(name)
        if not dropping:
            out.append(line)
    return b"\r\n".join(out)
