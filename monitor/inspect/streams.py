"""Decompression that streams with an output cap: no call ever produces more than it was asked for.

zipfile's own reader decompresses a bzip2 or LZMA member 4 KiB of *input* at a time with no output
limit (``ZipExtFile._read1``): 4 KiB of bzip2 can be gigabytes, so a 684-byte message took a worker
to 437 MiB. Every decoder here is called with ``max_length`` (zlib, bz2, lzma, zstd) or fed input
small enough that one call stays small (deflate64), and readers stop at the cap they are given.
"""

from __future__ import annotations

import bz2
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any

# Output asked of a decoder per call, and input fed to it per call.
OUT_CHUNK = 64 * 1024
IN_CHUNK = 64 * 1024
# deflate64 (inflate64) has no max_length: feed it this little input per call. Its longest match
# (65,538 bytes from about 18 bits) bounds one call's output to about 30 MB per KiB; 64 bytes keep
# it under 2 MB.
_DEFLATE64_IN = 64

_DEFLATE64 = 9
_ZSTD = 93
_XZ = 95
ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, _DEFLATE64, _XZ, _ZSTD}
)


class Corrupt(Exception):
    """The compressed data is damaged (a CRC mismatch, a decoder error)."""


def zstd_available() -> bool:
    try:
        _zstd_module()
    except ImportError:
        return False
    return True


def _zstd_module() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        from backports import zstd  # py7zr brings it
    return zstd


class _Stepper:
    """One decoder over one input, stepped for at most ``max_length`` bytes of output at a time
    (bz2, lzma and zstd decoders: they say when they need input)."""

    def __init__(self, kind: str, src: memoryview) -> None:
        self.kind = kind
        self.src = src
        self.pos = 0
        self.eof = False
        self.dec: Any = _new_decoder(kind)

    def step(self, max_length: int) -> bytes:
        """Up to ``max_length`` bytes of output; b"" only at the end of the data."""
        while not self.eof:
            data = b""
            if self._needs_input():
                if self.pos >= len(self.src):
                    self.eof = True
                    return self._flush()
                data = bytes(self.src[self.pos : self.pos + self._in_chunk()])
                self.pos += len(data)
            out = self._decompress(data, max_length)
            if self.dec.eof:
                self.eof = True
            if out:
                return out
        return b""

    def _in_chunk(self) -> int:
        return IN_CHUNK

    def _needs_input(self) -> bool:
        return bool(self.dec.needs_input)

    def _decompress(self, data: bytes, max_length: int) -> bytes:
        try:
            return bytes(self.dec.decompress(data, max_length=max_length))
        except (OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            raise Corrupt(f"{self.kind}: {exc}") from exc
        except MemoryError:
            raise  # the worker's ceiling: its own verdict, and a fresh worker
        except Exception as exc:  # zstd's own error type
            raise Corrupt(f"{self.kind}: {type(exc).__name__}: {exc}") from exc

    def _flush(self) -> bytes:
        return b""

    def unused(self) -> bytes:
        """Input after the end of this stream (the next gzip member, bzip2 or xz stream)."""
        return bytes(getattr(self.dec, "unused_data", b"")) + bytes(self.src[self.pos :])


class _ZlibStepper(_Stepper):
    """zlib objects keep what they could not use as ``unconsumed_tail`` instead of needs_input."""

    def _needs_input(self) -> bool:
        return not self.dec.unconsumed_tail

    def _decompress(self, data: bytes, max_length: int) -> bytes:
        tail = self.dec.unconsumed_tail
        try:
            return bytes(self.dec.decompress(tail + data if tail else data, max_length))
        except zlib.error as exc:
            raise Corrupt(f"{self.kind}: {exc}") from exc

    def _flush(self) -> bytes:
        # All input was given with max_length: what is left is at most the end of one match.
        try:
            return bytes(self.dec.flush())
        except zlib.error as exc:
            raise Corrupt(f"{self.kind}: {exc}") from exc


class _Deflate64Stepper(_Stepper):
    """inflate64 has no max_length: it is fed so little at a time that one call stays small."""

    def _in_chunk(self) -> int:
        return _DEFLATE64_IN

    def _needs_input(self) -> bool:
        return True

    def _decompress(self, data: bytes, max_length: int) -> bytes:
        try:
            return bytes(self.dec.inflate(data))
        except MemoryError:
            raise  # the worker's ceiling: its own verdict, and a fresh worker
        except Exception as exc:  # inflate64 raises ValueError and its own errors
            raise Corrupt(f"deflate64: {type(exc).__name__}: {exc}") from exc

    def _flush(self) -> bytes:
        return self._decompress(b"", 0)


def _new_decoder(kind: str) -> Any:
    if kind == "deflate":
        return zlib.decompressobj(-zlib.MAX_WBITS)
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if kind == "zstd":
        return _zstd_module().ZstdDecompressor()
    if kind == "deflate64":
        import inflate64  # a py7zr dependency; zlib has no deflate64

        return inflate64.Inflater()
    raise Corrupt(f"no decoder for {kind}")


def _stepper(kind: str, src: memoryview) -> _Stepper:
    if kind in ("deflate", "gzip"):
        return _ZlibStepper(kind, src)
    if kind == "deflate64":
        return _Deflate64Stepper(kind, src)
    return _Stepper(kind, src)


def chunks(kind: str, data: bytes | memoryview, *, multi: bool = False) -> Iterator[bytes]:
    """The decompressed output of ``data`` in pieces of at most OUT_CHUNK bytes.

    ``multi``: go on after the end of a stream with the next one (gzip members, concatenated
    bzip2 and xz streams), as gzip, bzip2 and xz do; NUL padding between streams is skipped.
    """
    src = memoryview(data)
    while True:
        stepper = _stepper(kind, src)
        while True:
            out = stepper.step(OUT_CHUNK)
            if not out:
                break
            yield out
        if not stepper.dec.eof and kind != "deflate64":
            raise Corrupt(f"truncated {kind} stream")
        if not multi:
            return
        rest = stepper.unused().lstrip(b"\x00")
        if not rest:
            return
        src = memoryview(rest)


class CappedReader(io.RawIOBase):
    """A file-like view of decoded pieces that yields at most ``cap`` bytes and then ends.

    ``overflowed`` tells afterwards whether there was more than ``cap``.
    """

    def __init__(self, pieces: Iterator[bytes], cap: int, on_end: Callable[[int], None] | None = None) -> None:
        self._pieces = pieces
        self.cap = cap
        self.count = 0
        self.overflowed = False
        self._buf = b""
        self._on_end = on_end
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        want = len(b)
        while not self._buf and not self._done:
            if self.count >= self.cap:
                self.overflowed = self._more()
                self._finish()
                break
            try:
                piece = next(self._pieces)
            except StopIteration:
                self._finish()
                break
            self._buf = piece[: self.cap - self.count]
            if len(piece) > len(self._buf):
                self.overflowed = True
                self._finish()
        n = min(want, len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self.count += n
        return n

    def _more(self) -> bool:
        try:
            return bool(next(self._pieces))
        except StopIteration:
            return False

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            if self._on_end is not None:
                self._on_end(self.count)

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()
        super().close()


def read_capped(pieces: Iterator[bytes], cap: int) -> tuple[bytes, bool]:
    """(at most ``cap`` bytes of the pieces, whether there was more)."""
    out = bytearray()
    more = False
    for piece in pieces:
        room = cap - len(out)
        if len(piece) > room:
            out += piece[:room]
            more = True
            break
        out += piece
    close = getattr(pieces, "close", None)
    if close is not None:
        close()
    return bytes(out), more


# --- zip members, read from their local header -------------------------------------------------


def zip_member_pieces(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The content of one zip member, decoded from its local header on with capped decoders.

    The CRC is checked when the whole member has been read.
    """
    off = info.header_offset
    if data[off : off + 4] != b"PK\x03\x04":
        raise Corrupt(f"{info.filename}: no local header")
    start = off + 30 + int.from_bytes(data[off + 26 : off + 28], "little")
    start += int.from_bytes(data[off + 28 : off + 30], "little")
    raw = memoryview(data)[start : start + info.compress_size]
    return _checked(_member_pieces(raw, info), info)


def _member_pieces(raw: memoryview, info: zipfile.ZipInfo) -> Iterator[bytes]:
    method = info.compress_type
    if method == zipfile.ZIP_STORED:
        for pos in range(0, len(raw), OUT_CHUNK):
            yield bytes(raw[pos : pos + OUT_CHUNK])
        return
    if method == zipfile.ZIP_LZMA:
        yield from _zip_lzma(raw)
        return
    kind = {
        zipfile.ZIP_DEFLATED: "deflate",
        zipfile.ZIP_BZIP2: "bzip2",
        _DEFLATE64: "deflate64",
        _XZ: "xz",
        _ZSTD: "zstd",
    }.get(method)
    if kind is None:
        raise Corrupt(f"compression method {method} is not readable")
    stepper = _stepper(kind, raw)
    while True:
        out = stepper.step(OUT_CHUNK)
        if not out:
            return
        yield out


def _zip_lzma(raw: memoryview) -> Iterator[bytes]:
    """LZMA in zip (APPNOTE 5.8.8): a 2-byte version, a 2-byte properties size, the properties,
    then a raw LZMA1 stream."""
    if len(raw) < 4:
        raise Corrupt("truncated LZMA member")
    psize = int.from_bytes(raw[2:4], "little")
    try:
        props = lzma._decode_filter_properties(lzma.FILTER_LZMA1, bytes(raw[4 : 4 + psize]))  # type: ignore[attr-defined]
        dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[props])
    except (lzma.LZMAError, ValueError) as exc:
        raise Corrupt(f"LZMA properties: {exc}") from exc
    body = raw[4 + psize :]
    pos = 0
    while not dec.eof:
        data = b""
        if dec.needs_input:
            if pos >= len(body):
                return  # zip's LZMA may end without an end marker: the declared size ends it
            data = bytes(body[pos : pos + IN_CHUNK])
            pos += len(data)
        try:
            out = dec.decompress(data, max_length=OUT_CHUNK)
        except (lzma.LZMAError, EOFError) as exc:
            raise Corrupt(f"LZMA: {exc}") from exc
        if out:
            yield out


def _checked(pieces: Iterator[bytes], info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The pieces; at the end, the member's CRC when exactly its declared size came out."""
    crc = 0
    size = 0
    for piece in pieces:
        size += len(piece)
        if size <= info.file_size:
            crc = zlib.crc32(piece, crc)
        yield piece
    if size == info.file_size and crc != info.CRC:
        raise Corrupt(f"{info.filename}: bad CRC")


def zip_member(data: bytes, info: zipfile.ZipInfo, cap: int) -> IO[bytes]:
    """A reader of at most ``cap`` bytes of one member."""
    return io.BufferedReader(CappedReader(zip_member_pieces(data, info), cap), buffer_size=OUT_CHUNK)
