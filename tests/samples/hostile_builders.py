"""Hostile messages for tests and the hostile-mail benchmark: bombs for every codec (built without
ever holding what they expand to), huge structures, uuencode, hand-made PDFs and zips.

Expanded contents start with zip magic, so that an inspector must look inside them: a bomb of plain
zeros is only sniffed (its first bytes say what it is) and costs nothing to inspect.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zlib
from collections.abc import Iterator

from tests.samples.archive_builders import pdf_file

SENDER = "doitac@partner.gov.vn"
RCPT = "vanphong@example.gov.vn"


# Expanded contents start like a zip, so the filter must look inside them (a bomb of plain zeros is
# only sniffed: its first 4 KiB say what it is, and nothing needs the rest).
ZIP_MAGIC = b"PK\x03\x04"


def message(
    body: bytes, headers: bytes = b"", ctype: bytes = b"text/plain; charset=utf-8", subject: bytes = b""
) -> bytes:
    head = (
        b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\n"
        b"Subject: " + (subject or b"hostile") + b"\r\nMessage-ID: <hostile@partner.gov.vn>\r\nMIME-Version: 1.0\r\n"
    )
    return head + headers + b"Content-Type: " + ctype + b"\r\n\r\n" + body


def with_part(part_headers: bytes, body: bytes, boundary: bytes = b"B") -> bytes:
    """A multipart/mixed message: a short text, then one part with these headers and body."""
    b = boundary
    return message(
        b"--" + b + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nxem tep dinh kem\r\n"
        b"--" + b + b"\r\n" + part_headers + b"\r\n" + body + b"\r\n--" + b + b"--\r\n",
        ctype=b'multipart/mixed; boundary="' + b + b'"',
    )


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> bytes:
    return with_part(
        f'Content-Type: {ctype}; name="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'.encode(),
        b64(data),
    )


def _zeros(size: int) -> Iterator[bytes]:
    chunk = b"\x00" * 2**20
    yield ZIP_MAGIC
    left = size - len(ZIP_MAGIC)
    while left > 0:
        yield chunk[: min(left, len(chunk))]
        left -= len(chunk)


def _compress(kind: str, size: int) -> tuple[bytes, int]:
    """(compressed ZIP_MAGIC + zeros of ``size`` bytes, CRC) with the codec ``kind``."""
    comp: object
    if kind == "bzip2":
        comp = bz2.BZ2Compressor(9)
    elif kind == "xz":
        comp = lzma.LZMACompressor(lzma.FORMAT_XZ, preset=0)
    elif kind == "lzma-raw":
        comp = lzma.LZMACompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "preset": 0}])
    elif kind == "zstd":
        from backports import zstd

        comp = zstd.ZstdCompressor(level=3)
    elif kind == "deflate64":
        import inflate64

        comp = inflate64.Deflater()
    else:
        raise ValueError(kind)
    out = io.BytesIO()
    crc = 0
    for chunk in _zeros(size):
        crc = zlib.crc32(chunk, crc)
        out.write(comp.deflate(chunk) if kind == "deflate64" else comp.compress(chunk))  # type: ignore[attr-defined]
    out.write(comp.flush())  # type: ignore[attr-defined]
    return out.getvalue(), crc


def raw_zip(name: str, method: int, stream: bytes, size: int, crc: int) -> bytes:
    """A one-member zip (zip64 sizes, so members past 4 GiB can be declared) written by hand."""
    raw = name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(stream))
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(raw), len(extra)
    )
    cextra = struct.pack("<HHQQ", 1, 16, size, len(stream))
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        45,
        45,
        0,
        method,
        0,
        0,
        crc,
        0xFFFFFFFF,
        0xFFFFFFFF,
        len(raw),
        len(cextra),
        0,
        0,
        0,
        0,
        0,
    )
    body = local + raw + extra + stream
    central += raw + cextra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(body), 0)
    return body + central + end


def zip_bomb(method: int, kind: str, size: int) -> bytes:
    if kind == "lzma-raw":
        stream, crc = _compress(kind, size)
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": 0})  # type: ignore[attr-defined]
        stream = struct.pack("<BBH", 9, 20, len(props)) + props + stream
    else:
        stream, crc = _compress(kind, size)
    return raw_zip("bomb.zip", method, stream, size, crc)


def deflate_zip_bomb(size: int) -> bytes:
    """Deflate from one flushed block repeated: a GiB costs about 1 MB to build and nothing to inflate."""
    chunk = 2**20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(ZIP_MAGIC + b"\x00" * (chunk - len(ZIP_MAGIC))) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(b"\x00" * chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    stream = first + block * (size // chunk - 1) + comp.flush()
    crc = zlib.crc32(ZIP_MAGIC + b"\x00" * (chunk - len(ZIP_MAGIC)))
    zeros = b"\x00" * chunk
    for _ in range(size // chunk - 1):
        crc = zlib.crc32(zeros, crc)
    return raw_zip("bomb.zip", 8, stream, size // chunk * chunk, crc)


def stream_bomb(kind: str, size: int) -> bytes:
    """A gzip (two members: a small one, then the bomb), bzip2 or xz file of zip magic and zeros."""
    if kind == "gzip":
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        out = io.BytesIO()
        for chunk in _zeros(size):
            out.write(comp.compress(chunk))
        out.write(comp.flush())
        return gzip.compress(b"harmless first member\n") + out.getvalue()
    return _compress(kind, size)[0]


def tar_gz_bomb(size: int) -> bytes:
    """A tar.gz whose one member is zip magic and zeros."""
    info = tarfile.TarInfo("bomb.zip")
    info.size = size
    raw = io.BytesIO()
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    raw.write(comp.compress(header))
    for chunk in _zeros(size):
        raw.write(comp.compress(chunk))
    raw.write(comp.compress(b"\x00" * 1024) + comp.flush())
    return raw.getvalue()


def sevenzip_bomb(size: int) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 0}]) as sz:
        sz.writef(io.BytesIO(b"".join(_zeros(size))), "bomb.zip")  # type: ignore[attr-defined]
    return buf.getvalue()


def sevenzip_deflate() -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", filters=[{"id": py7zr.FILTER_DEFLATE}]) as sz:
        sz.writestr(ZIP_MAGIC + b"\x00" * 2**20, "inner.zip")
    return buf.getvalue()


def many_parts(n: int) -> bytes:
    part = b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return message(part * n + b"--B--\r\n", ctype=b'multipart/mixed; boundary="B"')


def deep_multipart(depth: int) -> bytes:
    body = b"x"
    for level in range(depth):
        b = f"b{level}".encode()
        body = (
            b"--" + b + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + b + b"\r\n" + body + b"\r\n--" + b + b"--\r\n"
        )
        body = b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n' + body
    return message(body.split(b"\r\n\r\n", 1)[1], ctype=body.split(b"\r\n", 1)[0].split(b": ", 1)[1])


def nested_messages(depth: int, encoded: bool) -> bytes:
    inner = message(b"day la thu trong cung\r\n")
    for level in range(depth):
        boundary = f"level{level}".encode()
        if encoded:
            headers = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
            inner = with_part(headers, b64(inner), boundary)
        else:
            inner = with_part(b"Content-Type: message/rfc822\r\n", inner, boundary)
    return inner


def pdf_with_page(content: bytes, flate: bool) -> bytes:
    data = zlib.compress(content, 9) if flate else content
    filt = b" /Filter /FlateDecode" if flate else b""
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d%s >>\nstream\n" % (len(data), filt) + data + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def pdf_with_form(content: bytes, draws: int) -> bytes:
    """A page that draws one form XObject ``draws`` times; the form holds ``content``."""
    data = zlib.compress(content, 9)
    page = b"/X1 Do\n" * draws
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(page) + page + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Filter /FlateDecode"
            b" /Resources << /Font << /F1 5 0 R >> >> /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        ]
    )


def uu(name: str, data: bytes) -> bytes:
    lines = [binascii.b2a_uu(data[i : i + 45]).replace(b"\n", b"\r\n") for i in range(0, len(data), 45)]
    return f"begin 644 {name}\r\n".encode() + b"".join(lines) + b"`\r\nend\r\n"
