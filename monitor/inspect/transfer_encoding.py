"""Content-Transfer-Encoding: exact decoded sizes without decoding, bounded and tolerant decoding,
and a block-by-block decoder (what clamd is streamed).

Mail clients decode base64 leniently (garbage characters skipped, missing padding forgiven); so does
this module, so that an attacker cannot hide bytes from inspection behind an encoding quirk.
"""

from __future__ import annotations

import binascii

_WS_BYTES = b"\r\n \t"  # what mail encoders put between base64 characters
_WINDOW = 2**20
# Everything that is not in the base64 alphabet (mail clients skip such bytes when decoding).
_NOT_B64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="))


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
