"""Small archives and documents built in code for the tests and samples (no real executables stored).

RAR, CAB and ARJ have no free writer in Python or Debian main, so stored-method files are
written here by hand from the published format notes; cpio and ISO come from bsdtar.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

PE = b"MZ" + b"\x90" * 58 + (64).to_bytes(4, "little") + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 200
PDF_STUB = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SECRET = "TỐI MẬT"


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def mark_encrypted(data: bytes, *, aes: bool = False) -> bytes:
    """Set the 'encrypted' flag (and, for AES, method 99) in every local and central header."""
    out = bytearray(data)
    pos = out.find(b"PK\x03\x04")
    while pos >= 0:
        out[pos + 6] |= 1
        if aes:
            out[pos + 8 : pos + 10] = (99).to_bytes(2, "little")
        pos = out.find(b"PK\x03\x04", pos + 4)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        out[pos + 8] |= 1
        if aes:
            out[pos + 10 : pos + 12] = (99).to_bytes(2, "little")
        pos = out.find(b"PK\x01\x02", pos + 4)
    return bytes(out)


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sevenzip_bytes(files: dict[str, bytes], password: str | None = None, *, header_encryption: bool = False) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password, header_encryption=header_encryption) as sz:
        for name, data in files.items():
            sz.writestr(data, name)
    return buf.getvalue()


def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _rar5_block(body: bytes) -> bytes:
    sized = _vint(len(body)) + body
    return zlib.crc32(sized).to_bytes(4, "little") + sized


def rar5_bytes(files: dict[str, bytes], *, encrypted: bool = False, header_encrypted: bool = False) -> bytes:
    """A RAR5 archive with stored members; ``encrypted`` adds file-encryption records (data left plain)."""
    out = b"Rar!\x1a\x07\x01\x00"
    if header_encrypted:
        # Archive encryption header (type 4): AES-256, no check value, KDF count 15, salt.
        return out + _rar5_block(_vint(4) + _vint(0) + _vint(0) + _vint(0) + b"\x0f" + b"\x01" * 16) + b"\x00" * 64
    out += _rar5_block(_vint(1) + _vint(0) + _vint(0))
    for name, data in files.items():
        extra = b""
        if encrypted:
            record = _vint(1) + _vint(0) + _vint(0) + b"\x0f" + b"\x02" * 16 + b"\x03" * 16
            extra = _vint(len(record)) + record
        flags = 0x02 | (0x01 if extra else 0)
        fields = _vint(2) + _vint(flags)
        if extra:
            fields += _vint(len(extra))
        fields += _vint(len(data))
        fields += _vint(0x04) + _vint(len(data)) + _vint(0x20) + zlib.crc32(data).to_bytes(4, "little")
        fields += _vint(0) + _vint(0) + _vint(len(name.encode())) + name.encode() + extra
        out += _rar5_block(fields) + data
    return out + _rar5_block(_vint(5) + _vint(0) + _vint(0))


def rar4_bytes(files: dict[str, bytes]) -> bytes:
    """A RAR 2.9/4 archive with stored members."""

    def block(body: bytes) -> bytes:
        return (zlib.crc32(body) & 0xFFFF).to_bytes(2, "little") + body

    out = b"Rar!\x1a\x07\x00"
    out += block(struct.pack("<BHH", 0x73, 0, 13) + b"\x00" * 6)
    for name, data in files.items():
        raw = name.encode()
        size = 32 + len(raw)
        fixed = struct.pack("<IIBIIBBHI", len(data), len(data), 3, zlib.crc32(data), 0, 20, 0x30, len(raw), 0o100644)
        out += block(struct.pack("<BHH", 0x74, 0x8000, size) + fixed + raw) + data
    return out + block(struct.pack("<BHH", 0x7B, 0x4000, 7))


def cab_bytes(files: dict[str, bytes]) -> bytes:
    """A Microsoft cabinet with one uncompressed folder."""
    names = [n.encode() + b"\x00" for n in files]
    cffiles = b""
    offset = 0
    for raw, data in zip(names, files.values(), strict=True):
        cffiles += struct.pack("<IIHHHH", len(data), offset, 0, 0x5A21, 0, 0x20) + raw
        offset += len(data)
    payload = b"".join(files.values())
    blocks = [payload[i : i + 32768] for i in range(0, len(payload), 32768)] or [b""]
    cfdata = b"".join(struct.pack("<IHH", 0, len(b), len(b)) + b for b in blocks)
    head_len = 36 + 8
    data_start = head_len + len(cffiles)
    total = data_start + len(cfdata)
    header = b"MSCF" + struct.pack("<IIIIIBBHHHHH", 0, total, 0, head_len, 0, 3, 1, 1, len(files), 0, 0, 0)
    folder = struct.pack("<IHH", data_start, len(blocks), 0)
    return header + folder + cffiles + cfdata


def _arj_header(fixed: bytes, name: str) -> bytes:
    basic = bytes([30]) + fixed + name.encode("cp437") + b"\x00" + b"\x00"
    return (
        b"\x60\xea" + len(basic).to_bytes(2, "little") + basic + zlib.crc32(basic).to_bytes(4, "little") + b"\x00\x00"
    )


def arj_bytes(files: dict[str, bytes], *, method: int = 0, garbled: bool = False) -> bytes:
    """An ARJ archive; ``method`` is only recorded (data is stored as given)."""
    main = struct.pack("<BBBBBBBIIIIHHBB", 11, 1, 2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    out = _arj_header(main, "test.arj")
    for name, data in files.items():
        fixed = struct.pack(
            "<BBBBBBBIIIIHHBB",
            11,
            1,
            2,
            1 if garbled else 0,
            method,
            0,
            0,
            0,
            len(data),
            len(data),
            zlib.crc32(data),
            0,
            0o644,
            0,
            0,
        )
        out += _arj_header(fixed, name) + data
    return out + b"\x60\xea\x00\x00"


def bsdtar_create(fmt: str, files: dict[str, bytes]) -> bytes:
    """An archive written by bsdtar in ``fmt`` (cpio = odc, newc, iso9660)."""
    exe = shutil.which("bsdtar")
    assert exe, "bsdtar (libarchive-tools) is needed"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "in")
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out = Path(tmp, "out")
        subprocess.run([exe, "-c", "-f", str(out), "--format", fmt, "-C", str(root), *files], check=True)
        return out.read_bytes()


def ole_bytes(storages: list[str]) -> bytes:
    """An OLE compound file whose directory holds the named storages (enough for a directory scan)."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 16 + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9)
    header = header.ljust(512, b"\x00")
    entries = b""
    for i, name in enumerate(["Root Entry", *storages]):
        raw = (name + "\x00").encode("utf-16-le")
        entry = raw.ljust(64, b"\x00") + struct.pack("<HBB", len(raw), 5 if i == 0 else 1, 1)
        entries += entry.ljust(128, b"\x00")
    return header + entries.ljust(512, b"\x00")


def docx_bytes(text: str = SECRET, *, macro: bool = False, signed: bool = False) -> bytes:
    ctype = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro
        else ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
    )
    files = {
        "[Content_Types].xml": f'<?xml version="1.0"?><Types><Override PartName="/word/document.xml" ContentType="{ctype}"/></Types>'.encode(),
        "word/document.xml": f"<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p><w:p><w:r><w:t>Số: 12/BC</w:t></w:r></w:p></w:body></w:document>".encode(),
        "word/header1.xml": "<w:hdr><w:p><w:r><w:t>Đầu trang</w:t></w:r></w:p></w:hdr>".encode(),
    }
    if macro:
        files["word/vbaProject.bin"] = ole_bytes(["VBA"])
    if signed:
        files["_xmlsignatures/sig1.xml"] = b"<Signature/>"
        files["_xmlsignatures/_rels/origin.sigs.rels"] = b"<Relationships/>"
        files["_xmlsignatures/origin.sigs"] = b""
    return zip_bytes(files)


def odt_bytes(text: str = SECRET) -> bytes:
    return zip_bytes(
        {
            "mimetype": b"application/vnd.oasis.opendocument.text",
            "content.xml": f"<office:document-content><office:body><text:p>{text}</text:p></office:body></office:document-content>".encode(),
        },
        method=zipfile.ZIP_STORED,
    )


def pdf_bytes(text: str = SECRET) -> bytes:
    """A one-page PDF whose text maps glyph ids to Unicode through a ToUnicode CMap (no font file)."""
    chars = list(dict.fromkeys(text))
    cids = "".join(f"{chars.index(c) + 1:04X}" for c in text)
    bfchar = "".join(f"<{i + 1:04X}> <{ord(c):04X}>\n" for i, c in enumerate(chars))
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /U def "
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{bfchar}endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
    ).encode()
    content = f"BT /F1 24 Tf 72 720 Td <{cids}> Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Arial /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Arial /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    return pdf_file(objects)


def pdf_file(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the catalog first) with its xref table and trailer."""
    out = b"%PDF-1.7\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def nested_zip_bomb(layers: int = 5, copies: int = 16, bottom_bytes: int = 2**30) -> bytes:
    """A 42.zip-style bomb: ``copies`` zips per layer, ``layers`` deep, zeros at the bottom.

    The bottom member's deflate stream is built from one compressed block repeated, so a 1 GiB
    member costs about 1 MB here and nothing is ever inflated.
    """
    bottom = _zero_zip(bottom_bytes)
    data = bottom
    for layer in range(layers):
        data = zip_bytes({f"{layer}-{i}.zip": data for i in range(copies)})
    return data


def _zero_zip(size: int) -> bytes:
    """A zip with one deflated member of ``size`` zero bytes, written without inflating it."""
    chunk = 2**20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(b"\x00" * chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    tail_comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = tail_comp.compress(b"") + tail_comp.flush()
    count = size // chunk
    # A full flush leaves a byte-aligned, self-contained block: repeating it repeats the output.
    stream = block * count + tail
    crc = 0
    zeros = b"\x00" * chunk
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    return _single_entry_zip("zeros.bin", stream, count * chunk, crc, method=8)


def _single_entry_zip(name: str, stream: bytes, size: int, crc: int, method: int) -> bytes:
    raw = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(stream), size, len(raw), 0) + raw
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            method,
            0,
            0,
            crc,
            len(stream),
            size,
            len(raw),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + raw
    )
    body = local + stream
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    return body + central + end


def overlapping_zip_bomb(entries: int = 500, kernel_bytes: int = 64 * 2**20) -> bytes:
    """David Fifield's non-recursive bomb, full-overlap form: every central entry points at one kernel."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = comp.compress(b"\x00" * kernel_bytes) + comp.flush()
    crc = zlib.crc32(b"\x00" * kernel_bytes)
    raw = b"k"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(stream), kernel_bytes, 1, 0) + raw
    body = local + stream
    central = b""
    for i in range(entries):
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(stream), kernel_bytes, 1, 0, 0, 0, 0, 0, 0
        ) + bytes([0x61 + i % 26])
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central), len(body), 0)
    return body + central + end


def gzip_bomb(size: int = 2**30) -> bytes:
    """A gzip of ``size`` zeros, built from a repeated flushed block (about 1 MB per GiB)."""
    chunk = 2**20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(b"\x00" * chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = block * (size // chunk) + final.compress(b"") + final.flush()
    crc = 0
    zeros = b"\x00" * chunk
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream + struct.pack("<II", crc, size & 0xFFFFFFFF)
