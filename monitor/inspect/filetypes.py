"""True file types from the first bytes, whatever the file name says.

A small, deterministic signature table (docs/libraries.md, "File types": the libraries mislabel
some executables, and libmagic needs 34 KiB to see an ISO; these checks cost microseconds and decide
the blocking verdicts).
"""

from __future__ import annotations

LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")

# Read at least this much of a part before sniffing (an ISO 9660 descriptor sits at 32 KiB).
SNIFF_BYTES = 64 * 1024

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "elf"),
    (b"#!", "script"),
    (b"%PDF-", "pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"MSCF", "cab"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"070707", "cpio"),
    (b"\xc7\x71", "cpio"),
    (b"{\\rtf", "rtf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
)


def sniff(head: bytes) -> str | None:
    """The true type of a file from its first bytes (pass ``SNIFF_BYTES`` if you have them)."""
    if head.startswith(b"MZ"):
        return _dos_or_pe(head)
    if head.startswith(LNK_HEADER):
        return "lnk"
    if head[:4] in MACHO_MAGICS:
        return "mach-o"
    if head.startswith(b"\xca\xfe\xba\xbe") and len(head) >= 8:
        # Shared by Mach-O universal binaries (a small architecture count) and Java classes
        # (a class-file version >= 45 in the same place).
        return "mach-o" if int.from_bytes(head[4:8], "big") < 40 else "java-class"
    for prefix, kind in _PREFIXES:
        if head.startswith(prefix):
            return kind
    # Short magics get a second check, so that random data is not taken for an archive.
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return "bzip2"
    if head.startswith(b"\x60\xea") and 0 < int.from_bytes(head[2:4], "little") <= 2600:
        return "arj"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if any(head[off : off + 5] == b"CD001" for off in (0x8001, 0x8801, 0x9001)):
        return "iso"
    return None


def _dos_or_pe(head: bytes) -> str:
    if len(head) >= 0x40:
        offset = int.from_bytes(head[0x3C:0x40], "little")
        if head[offset : offset + 4] == b"PE\x00\x00":
            return "pe"
    return "mz"
