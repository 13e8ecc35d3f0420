"""Content-Transfer-Encoding: exact decoded sizes without decoding, bounded and tolerant decoding,
and a block-by-block decoder (what clamd is streamed).

Mail clients decode base64 leniently (garbage characters skipped, missing padding forgiven), and
uuencode, both as a transfer encoding (x-uuencode) and as ``begin 644 name`` blocks inside text;
so does this module, so that an attacker cannot hide bytes from inspection behind an encoding quirk.
"""

from __future__ import annotations

import binascii
import re

_WS_BYTES = b"\r\n \t"  # what mail encoders put between base64 characters
_WINDOW = 2**20
# Everything that is not in the base64 alphabet (mail clients skip such bytes when decoding).
_NOT_B64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="))


# The transfer encodings read as such; any other is recorded as a problem and read as bytes.
IDENTITY = frozenset({"7bit", "8bit", "binary"})
UUENCODE = frozenset({"x-uuencode", "x-uue", "uuencode", "uue", "x-uuencoded"})
KNOWN = IDENTITY | UUENCODE | {"base64", "quoted-printable"}


def decoded_size(buf: bytes, start: int, end: int, cte: str) -> int:
    """Exact decoded length, without decoding base64 (0 bytes of error over 250 sizes;
    docs/libraries.md, "MIME parsing")."""
    if cte == "base64":
        # One translate per MiB (a copy that small is cheaper than four count() passes over it all).
        chars = sum(len(buf[i : min(end, i + _WINDOW)].translate(None, _WS_BYTES)) for i in range(start, end, _WINDOW))
        tail = buf[max(start, end - 8) : end].rstrip(_WS_BYTES)
        pad = len(tail) - len(tail.rstrip(b"="))
        return max(0, chars * 3 // 4 - min(pad, 2))
    if cte == "quoted-printable":
        return len(binascii.a2b_qp(buf[start:end]))
    if cte in UUENCODE:
        return uu_size(buf, start, end)
    return end - start


def decode(buf: bytes, start: int, end: int, cte: str, limit: int) -> bytes:
    """Up to ``limit`` decoded bytes of the part body (tolerant of broken encodings)."""
    if cte == "base64":
        # 76 characters a line plus CRLF: read enough raw bytes for ``limit`` decoded ones.
        raw_end = min(end, start + limit * 4 // 3 + limit // 19 + 1024)
        if raw_end == end:
            try:  # the whole body: a2b_base64 skips line ends itself, no cleaned copy needed
                return binascii.a2b_base64(memoryview(buf)[start:end])[:limit]
            except binascii.Error:
                pass  # broken padding: the tolerant path below
        raw = buf[start:raw_end].translate(None, _WS_BYTES)
        if raw_end < end:
            raw = raw[: len(raw) - len(raw) % 4]
        return b64decode_tolerant(raw)[:limit]
    if cte == "quoted-printable":
        return binascii.a2b_qp(buf[start : min(end, start + limit * 3)])[:limit]
    if cte in UUENCODE:
        start = uu_data_start(buf, start, end)
        return uudecode(buf, start, min(end, start + limit * 62 // 45 + 1024), limit)[0]
    return buf[start : min(end, start + limit)]


class PartDecoder:
    """Decodes one part body fed in blocks of any size, as _decode would decode it whole."""

    def __init__(self, cte: str) -> None:
        self.cte = cte if cte in ("base64", "quoted-printable") else "identity"
        self._rest = b""

    def feed(self, block: bytes, final: bool = False) -> bytes:
        if self.cte == "identity":
            return block
        data = self._rest + block
        if self.cte == "base64":
            data = data.translate(None, _NOT_B64)
            cut = len(data) if final else len(data) - len(data) % 4
            self._rest = data[cut:]
            return b64decode_tolerant(data[:cut])
        # Quoted-printable decodes line by line: keep the last, unfinished line for the next block.
        cut = len(data) if final else data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return binascii.a2b_qp(data[:cut])


def b64decode_tolerant(raw: bytes) -> bytes:
    """Decode base64 as mail clients do: tolerate garbage characters and missing padding."""
    for candidate in (raw, raw[: len(raw) - len(raw) % 4]):
        try:
            return binascii.a2b_base64(candidate)
        except binascii.Error:
            continue
    return b""


# ``begin 644 name`` starts a uuencoded file; its lines follow, up to ``end``.
_UU_BEGIN = re.compile(rb"^begin[ \t]+[0-7]{3,4}[ \t]+([^\r\n]{1,1024})\r?$", re.MULTILINE)
UU_NAME_BYTES = 1024


def uu_begin(buf: bytes, start: int, end: int) -> tuple[int, str] | None:
    """(offset of the first data line, file name) of the first ``begin`` line in ``buf[start:end]``."""
    match = _UU_BEGIN.search(buf, start, end)
    if match is None:
        return None
    line_end = buf.find(b"\n", match.end(), end)
    name = match.group(1).rstrip(b"\r").decode("utf-8", "replace").strip()
    return (end if line_end < 0 else line_end + 1), name


def uu_blocks(buf: bytes, start: int, end: int, limit: int, most: int) -> tuple[list[tuple[str, bytes]], bool]:
    """The uuencoded files inside text (at most ``most`` of them, ``limit`` bytes each, from the
    first ``4 × most`` begin lines), and whether there were more."""
    found: list[tuple[str, bytes]] = []
    pos = start
    # begin lines looked at, with data or not: a text of nothing but begin lines is no archive
    for _ in range(4 * most):
        if pos >= end:
            return found, False
        begin = uu_begin(buf, pos, end)
        if begin is None:
            return found, False
        data_start, name = begin
        data, pos = uudecode(buf, data_start, end, limit)
        pos = max(pos, data_start)
        if not data:
            continue  # a begin line with no data after it carries no file
        if len(found) >= most:
            return found, True
        found.append((name, data))
    return found, pos < end and uu_begin(buf, pos, end) is not None


def uu_data_start(buf: bytes, start: int, end: int) -> int:
    """Where the data lines of a uuencoded part start: after its ``begin`` line, if it has one."""
    begin = uu_begin(buf, start, min(end, start + 4096))
    return start if begin is None else begin[0]


# The characters of uuencoded lines (space to backquote): a line with any other is not one.
_UU_ALPHABET = bytes(range(0x20, 0x61))


def uudecode(buf: bytes, start: int, end: int, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes uudecoded from the lines of ``buf[start:end]``, tolerant as uudecode is
    of padding and trailing garbage; and where decoding stopped (after the ``end`` line, or at the
    first line that cannot be uuencoded data, as uudecode stops there)."""
    out = bytearray()
    pos = start
    while pos < end and len(out) < limit:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl
        line = buf[pos:line_end].rstrip(b"\r")
        if line.strip() == b"end":
            pos = line_end + 1
            break
        if line and (line.translate(None, _UU_ALPHABET) or len(line) < (((line[0] - 32) & 63) + 2) // 3 * 4 + 1):
            break  # not a data line: the block ends before it
        pos = line_end + 1
        if line:
            out += _uu_line(line)
    return bytes(out[:limit]), min(pos, end)


def _uu_line(line: bytes) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        # Trailing garbage (some encoders pad lines): decode what the length byte announces.
        nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
        try:
            return binascii.a2b_uu(line[:nbytes])
        except binascii.Error:
            return b""


def uu_size(buf: bytes, start: int, end: int) -> int:
    """The decoded size of a uuencoded body: the length byte of each line, summed (no decoding)."""
    start = uu_data_start(buf, start, end)
    size = 0
    pos = start
    while pos < end:
        nl = buf.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl
        if buf.startswith(b"end", pos) and buf[pos:line_end].strip() == b"end":
            break
        if line_end > pos and buf[pos] != 0x0D:
            size += (buf[pos] - 32) & 63
        pos = line_end + 1
    return size
