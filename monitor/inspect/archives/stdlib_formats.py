"""Readers for the archive formats Python reads itself: each yields entries with a bounded opener."""

from __future__ import annotations

import io
import itertools
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from monitor.inspect.limits import Budget
from monitor.inspect.streams import ZIP_METHODS, Corrupt, chunks, read_capped, zip_member, zstd_available


class Unreadable(Exception):
    """The archive cannot be read (corrupt, truncated, unsupported); the message says why."""


@dataclass
class Entry:
    """One file inside an archive, as its format describes it."""

    name: str
    size: int
    encrypted: bool = False
    # Compressed size when the format records it per member (for the ratio check).
    packed: int | None = None
    # Opens the content for bounded reading; None when there is none to read (encrypted, link, …).
    opener: Callable[[], IO[bytes]] | None = None
    # The reader already counted the expanded bytes in the budget (pipes, solid 7z blocks).
    charged: bool = False
    # Why a regular file has no opener (an unsupported compression method, …).
    note: str = ""


@dataclass
class Opened:
    """An opened archive: its refined kind and its entries (consumed once, in order)."""

    kind: str
    entries: Iterator[Entry] = field(default_factory=lambda: iter(()))
    # Names are hidden by encrypted headers (7z -mhe, rar -hp): the archive is locked as a whole.
    locked: bool = False
    zf: zipfile.ZipFile | None = None
    # The archive's bytes (zip members are decoded from them, not through zipfile's reader).
    data: bytes = b""


_ZSTD = 93
_AES = 99
# A central directory larger than this, or with more entries, is refused before zipfile parses
# it: zipfile builds one ZipInfo per entry up front (about 500 bytes each).
_MAX_CENTRAL_DIRECTORY = 16 * 2**20


def zip_archive(data: bytes, budget: Budget) -> Opened:
    """A zip, refined to ooxml / odf / jar by its parts; overlapping entries are a bomb."""
    entries = _declared_entries(data)
    max_entries = budget.limits.max_archive_members * 10
    if entries is not None and entries > max_entries:
        raise Unreadable(f"zip declares {entries} entries (over {max_entries})")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, KeyError) as exc:
        raise Unreadable(f"corrupt zip: {exc}") from exc
    infos = zf.infolist()
    names = {i.filename for i in infos}
    if "[Content_Types].xml" in names:
        kind = "ooxml"
    elif "mimetype" in names and "content.xml" in names:
        kind = "odf"
    elif "META-INF/MANIFEST.MF" in names:
        kind = "jar"
    else:
        kind = "zip"
    overlap = _overlapping(infos)
    if overlap:
        budget.hit(f"zip entries overlap ({overlap}): a zip bomb; contents not read")
    return Opened(kind, _zip_entries(data, infos, overlap=bool(overlap), budget=budget), zf=zf, data=data)


def _declared_entries(data: bytes) -> int | None:
    """The entry count from the end-of-central-directory record, before zipfile sees it."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if eocd < 0 or eocd + 22 > len(data):
        return None
    count = int.from_bytes(data[eocd + 10 : eocd + 12], "little")
    cd_size = int.from_bytes(data[eocd + 12 : eocd + 16], "little")
    if cd_size != 0xFFFFFFFF and cd_size > _MAX_CENTRAL_DIRECTORY:
        return cd_size // 46  # the smallest central directory entry is 46 bytes
    if count == 0xFFFF and eocd >= 20 and data[eocd - 20 : eocd - 16] == b"PK\x06\x07":
        rec = int.from_bytes(data[eocd - 12 : eocd - 4], "little")
        if data[rec : rec + 4] == b"PK\x06\x06":
            return int.from_bytes(data[rec + 32 : rec + 40], "little")
    return count


def _overlapping(infos: list[zipfile.ZipInfo]) -> str:
    """Two entries whose data overlap (David Fifield's non-recursive zip bomb), or ''."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for a, b in itertools.pairwise(ordered):
        # A local header is at least 30 bytes; the data of ``a`` must end before ``b`` starts.
        if a.header_offset + 30 + a.compress_size > b.header_offset:
            return f"{a.filename} / {b.filename}"
    return ""


def _zip_entries(data: bytes, infos: list[zipfile.ZipInfo], *, overlap: bool, budget: Budget) -> Iterator[Entry]:
    for info in infos:
        if info.is_dir():
            continue
        encrypted = bool(info.flag_bits & 0x1) or info.compress_type == _AES
        entry = Entry(info.filename, info.file_size, encrypted, info.compress_size)
        if encrypted or overlap:
            pass
        elif info.compress_type in ZIP_METHODS and (info.compress_type != _ZSTD or zstd_available()):
            entry.opener = _zip_opener(data, info, budget.limits.max_decode_bytes + 1)
        else:
            entry.note = f"compression method {info.compress_type} is not readable"
        yield entry


def _zip_opener(data: bytes, info: zipfile.ZipInfo, cap: int) -> Callable[[], IO[bytes]]:
    return lambda: zip_member(data, info, cap)


def tar_entries(fileobj: IO[bytes]) -> Iterator[Entry]:
    """A tar read as a stream ("r|"): never an index of all members, never past the caller's stop."""
    try:
        tf = tarfile.open(fileobj=fileobj, mode="r|")  # noqa: SIM115  # closed by the with below
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Unreadable(f"corrupt tar: {exc}") from exc
    with tf:
        while True:
            try:
                member = tf.next()
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise Unreadable(f"corrupt tar: {exc}") from exc
            if member is None:
                return
            if member.isdir():
                continue
            entry = Entry(member.name, member.size if member.isfile() else 0)
            if member.isfile():
                entry.opener = _tar_opener(tf, member)
            yield entry


def _tar_opener(tf: tarfile.TarFile, member: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        fh = tf.extractfile(member)
        if fh is None:
            raise Unreadable(f"{member.name}: no content")
        return fh

    return opener


def decompress_stream(kind: str, data: bytes, budget: Budget) -> bytes:
    """A gzip / bzip2 / xz file, every member or stream of it, decompressed in capped steps up to the
    budget, the ratio and max_decode_bytes: no step ever holds more than that."""
    limits = budget.limits
    ratio_cap = max(2**20, limits.max_compression_ratio * len(data))
    cap = min(budget.room(), limits.max_decode_bytes, ratio_cap)
    try:
        out, more = read_capped(chunks(kind, data, multi=True), cap)
    except Corrupt as exc:
        raise Unreadable(f"corrupt {kind}: {exc}") from exc
    budget.charge(len(out))
    if more:
        if cap == ratio_cap:
            budget.hit(f"{kind} stream expands more than {limits.max_compression_ratio}×: a bomb; stopped")
        elif cap == limits.max_decode_bytes:
            budget.hit(f"{kind} stream expands past {limits.max_decode_bytes} bytes; stopped")
        else:
            budget.charge(1)  # the budget itself ran out: charge() records it
    return out


def gzip_name(data: bytes) -> str | None:
    """The original file name stored in a gzip header (FNAME), if any."""
    if len(data) < 10 or not data[3] & 0x08:
        return None
    pos = 10
    if data[3] & 0x04:
        pos = 12 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\x00", pos, pos + 1024)
    return data[pos:end].decode("latin-1") if end > pos else None


def arj_entries(data: bytes) -> Iterator[Entry]:
    """ARJ, which libarchive does not read: names from the headers, contents of stored members.

    Each header is 0x60 0xEA, a 2-byte basic header size, the basic header (a fixed part whose
    first byte is its own length, then the name and comment, NUL-terminated), a CRC32, and
    extended headers; file data follows. Compressed methods 1-4 have no Python decoder here.
    """
    pos = _arj_header(data, 0)[0]  # skip the main (archive) header
    while True:
        pos, header = _arj_header(data, pos)
        if header is None:
            return
        first = header[0]
        flags, method, ftype = header[4], header[5], header[6]
        packed = int.from_bytes(header[12:16], "little")
        size = int.from_bytes(header[16:20], "little")
        name_end = header.find(b"\x00", first)
        name = header[first : name_end if name_end >= 0 else len(header)].decode("cp437")
        start, pos = pos, pos + packed
        if pos > len(data):
            raise Unreadable(f"truncated arj: {name}")
        if ftype == 3:  # a directory
            continue
        entry = Entry(name, size, encrypted=bool(flags & 0x01), packed=packed)
        if not entry.encrypted:
            if method == 0:
                entry.opener = _slice_opener(data, start, packed)
            else:
                entry.note = f"arj compression method {method} is not readable"
        yield entry


def _arj_header(data: bytes, pos: int) -> tuple[int, bytes | None]:
    """(position after the header and its extended headers, the basic header or None at the end)."""
    if data[pos : pos + 2] != b"\x60\xea":
        raise Unreadable("corrupt arj: no header mark")
    size = int.from_bytes(data[pos + 2 : pos + 4], "little")
    if size == 0:
        return pos + 4, None
    if size > 2600 or pos + 4 + size + 4 > len(data):
        raise Unreadable("corrupt arj: bad header size")
    header = data[pos + 4 : pos + 4 + size]
    if zlib.crc32(header) != int.from_bytes(data[pos + 4 + size : pos + 8 + size], "little"):
        raise Unreadable("corrupt arj: header CRC mismatch")
    pos += 8 + size
    for _ in range(64):  # extended headers: a 2-byte size (0 ends them), data, CRC32
        ext = int.from_bytes(data[pos : pos + 2], "little")
        pos += 2
        if ext == 0:
            break
        pos += ext + 4
    if len(header) < 30:
        raise Unreadable("corrupt arj: short header")
    return pos, header


def _slice_opener(data: bytes, start: int, length: int) -> Callable[[], IO[bytes]]:
    return lambda: io.BytesIO(data[start : start + length])
