"""What the commands print is escaped: no control character from a message reaches the terminal.

File names, subjects, addresses and scanner text come from senders. An ESC sequence in them,
printed raw by ``quarantine list`` or ``mailboxes``, would be run by the operator's terminal
(recolour, retitle, move the cursor to hide a line, in some terminals answer back); a bare CR or a
bidirectional override would make a line read as something else. ``SafeText`` wraps stdout and
stderr for every command (and the service's log lines): C0 controls other than newline and tab,
DEL, C1 controls and the bidirectional formatting characters are written as ``\\uXXXX``, which is
also a valid escape inside the JSON the ``--json`` options print; CRLF becomes a newline.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

_ESCAPED = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,  # Arabic letter mark
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_TABLE = {c: f"\\u{c:04x}" for c in _ESCAPED}


def escape(text: str) -> str:
    return text.replace("\r\n", "\n").translate(_TABLE)


class SafeText:
    """A text stream that escapes what it is given before writing it to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, buffer, encoding...
        return getattr(self._stream, name)


def install() -> None:
    """Escape everything written to stdout and stderr from now on."""
    if not isinstance(sys.stdout, SafeText):
        sys.stdout = SafeText(sys.stdout)
    if not isinstance(sys.stderr, SafeText):
        sys.stderr = SafeText(sys.stderr)
