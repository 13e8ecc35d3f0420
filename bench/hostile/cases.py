"""The hostile messages: a bomb for every codec, adversarial text for every pattern, huge structures,
header floods, and the encoding evasions mail clients decode.

Each case says what must come of it: ``expect`` rules of which one at least must be found, or ()
for "decided, whatever the verdict" (adversarial text carries no violation; what matters is that
it was read to the end in bounded time).
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import io
import lzma
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.samples.archive_builders import (  # noqa: E402
    PE,
    nested_zip_bomb,
    overlapping_zip_bomb,
    zip_bytes,
)

LIMIT = ("inspection-limit",)
EXE = ("executable-attachment",)
SENDER = "doitac@partner.gov.vn"
RCPT = "vanphong@example.gov.vn"
# Expanded contents start like a zip, so the filter must look inside them (a bomb of plain zeros is
# only sniffed: its first 4 KiB say what it is, and nothing needs the rest).
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # bomb | structure | text | header | evasion
    raw: bytes
    expect: tuple[str, ...]


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


# --- codecs -------------------------------------------------------------------------------------


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


def bombs(size: int) -> list[Case]:
    out = [
        Case("zip-deflate-bomb", "bomb", attachment("a.zip", deflate_zip_bomb(2**30)), LIMIT),
        Case("zip-deflate64-bomb", "bomb", attachment("a.zip", zip_bomb(9, "deflate64", size)), LIMIT),
        Case("zip-bzip2-bomb", "bomb", attachment("a.zip", zip_bomb(12, "bzip2", size)), LIMIT),
        Case("zip-lzma-bomb", "bomb", attachment("a.zip", zip_bomb(14, "lzma-raw", size)), LIMIT),
        Case("zip-xz-bomb", "bomb", attachment("a.zip", zip_bomb(95, "xz", size)), LIMIT),
        Case("zip-zstd-bomb", "bomb", attachment("a.zip", zip_bomb(93, "zstd", size)), LIMIT),
        Case("gzip-multimember-bomb", "bomb", attachment("a.gz", stream_bomb("gzip", size)), LIMIT),
        Case("bzip2-bomb", "bomb", attachment("a.bz2", stream_bomb("bzip2", size)), LIMIT),
        Case("xz-bomb", "bomb", attachment("a.xz", stream_bomb("xz", size)), LIMIT),
        Case("tar-gz-bomb", "bomb", attachment("a.tar.gz", tar_gz_bomb(size)), LIMIT),
        Case("7z-lzma2-bomb", "bomb", attachment("a.7z", sevenzip_bomb(size)), LIMIT),
        Case("7z-deflate", "bomb", attachment("a.7z", sevenzip_deflate()), LIMIT),
        Case("zip-42-nested", "bomb", attachment("42.zip", nested_zip_bomb(5, 16, 2**30)), LIMIT),
        Case("zip-overlapping", "bomb", attachment("o.zip", overlapping_zip_bomb(500, 16 * 2**20)), LIMIT),
    ]
    return out


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


# --- structures ---------------------------------------------------------------------------------


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


def structures() -> list[Case]:
    return [
        Case("10000-parts", "structure", many_parts(10_000), LIMIT),
        Case("multipart-1000-deep", "structure", deep_multipart(1000), LIMIT),
        Case("rfc822-40-deep", "structure", nested_messages(40, encoded=False), LIMIT),
        Case("rfc822-base64-30-deep", "structure", nested_messages(30, encoded=True), LIMIT),
    ]


# --- adversarial text, one shape per pattern --------------------------------------------------

TEXT_SHAPES: dict[str, Callable[[int], tuple[bytes, bytes, bytes]]] = {
    # name: n -> (extra headers, body, content type)
    "html-lt-flood": lambda n: (b"", b"<" * n, b"text/html; charset=utf-8"),
    "html-unclosed-tags": lambda n: (b"", b"<a " * (n // 3), b"text/html; charset=utf-8"),
    "body-space-run": lambda n: (b"", b"a" + b" " * n + b"b", b"text/plain"),
    "body-dash-run": lambda n: (b"", b"a" + b"-" * n + b"b", b"text/plain"),
    "body-stamp-lines": lambda n: (b"", b"TOI MAT\n" * (n // 8), b"text/plain"),
    "body-cells": lambda n: (b"", b"M\xe1\xba\xacT\t \t" * (n // 8), b"text/plain; charset=utf-8"),
    "body-combining-marks": lambda n: (b"", b"a" + "\u0316\u0300".encode() * (n // 4), b"text/plain; charset=utf-8"),
    "body-registration-phrases": lambda n: (
        b"",
        "xác nhận đăng ký ".encode() * (n // 24),
        b"text/plain; charset=utf-8",
    ),
    "body-long-word": lambda n: (b"", b"x" * n, b"text/plain"),
    "body-uu-begin-lines": lambda n: (b"", b"begin 644 a\r\n" * (n // 13), b"text/plain"),
    "body-punycode-charset": lambda n: (b"", b"a" * (n // 2) + b"-" + b"b" * (n // 2), b"text/plain; charset=punycode"),
    "subject-space-run": lambda n: (b"", b"x", b"text/plain"),
    "subject-reply-prefix": lambda n: (b"", b"x", b"text/plain"),
    "subject-dashes": lambda n: (b"", b"x", b"text/plain"),
    "subject-encoded-words": lambda n: (b"", b"x", b"text/plain"),
    "from-quotes": lambda n: (b"Reply-To: " + b'"a' * (n // 2) + b"\r\n", b"x", b"text/plain"),
    "from-comments": lambda n: (b"Cc: " + b"(" * n + b"\r\n", b"x", b"text/plain"),
    "forwarded-for-word": lambda n: (b"X-Forwarded-For: " + b"a" * n + b"\r\n", b"x", b"text/plain"),
    "received-auth": lambda n: (b"Received: " + b"(Authenticated sender: " * (n // 24) + b"\r\n", b"x", b"text/plain"),
}
_SUBJECTS: dict[str, Callable[[int], bytes]] = {
    "subject-space-run": lambda n: b"a" + b" " * n + b"b",
    "subject-reply-prefix": lambda n: b"re" + b" " * n + b"x",
    "subject-dashes": lambda n: b"a" + b" -" * (n // 2) + b"b",
    "subject-encoded-words": lambda n: b"=?utf-8?q?a?= " * (n // 14),
}


# Header shapes stay inside the header block limit (256 KiB), so that their patterns are what is timed.
HEADER_TEXT_BYTES = 200_000


def text_case(shape: str, n: int) -> bytes:
    if shape.startswith(("subject-", "from-", "forwarded-", "received-")):
        n = min(n, HEADER_TEXT_BYTES)
    headers, body, ctype = TEXT_SHAPES[shape](n)
    subject = _SUBJECTS.get(shape, lambda n: b"")(n)
    return message(body, headers, ctype, subject)


def texts(size: int, inline_size: int) -> list[Case]:
    """Each shape at ``size`` (a worker reads it) and sized to the inline path (the event loop does)."""
    out = [Case(f"text-{shape}", "text", text_case(shape, size), ()) for shape in TEXT_SHAPES]
    for shape in TEXT_SHAPES:
        raw = text_case(shape, inline_size)
        while len(raw) > inline_size:  # fit the inline path: that is the point of these
            raw = text_case(shape, inline_size - (len(raw) - inline_size) - 64)
        out.append(Case(f"inline-{shape}", "text", raw, ()))
    return out


def pdf_with_page(content: bytes, flate: bool) -> bytes:
    from tests.samples.archive_builders import pdf_file

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


def pdfs() -> list[Case]:
    """Documents whose text extraction pypdf would spend seconds on."""
    operators = b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n"
    return [
        Case("pdf-page-operators-flate", "document", attachment("a.pdf", pdf_with_page(operators * 200_000, True)), ()),
        Case("pdf-page-just-below-cap", "document", attachment("b.pdf", pdf_with_page(operators * 31_000, True)), ()),
        Case("pdf-page-numbers", "document", attachment("c.pdf", pdf_with_page(b"1 " * 500_000, False)), ()),
    ]


def headers() -> list[Case]:
    return [
        Case("header-200k-lines", "header", message(b"x", b"X-A: b\r\n" * 32_000), ()),
        Case("header-one-1MiB", "header", message(b"x", b"X-Big: " + b"a" * 2**20 + b"\r\n"), LIMIT),
        Case("header-ct-10000-params", "header", message(b"x", ctype=b"text/plain" + b"; a=b" * 10_000), LIMIT),
        Case("header-ct-semicolons", "header", message(b"x", ctype=b"text/plain" + b";" * 60_000), LIMIT),
        Case(
            "header-cd-quotes",
            "header",
            with_part(b'Content-Disposition: attachment; filename="' + b'\\"' * 30_000 + b'"\r\n', b"x"),
            LIMIT,
        ),
    ]


# --- evasions -----------------------------------------------------------------------------------


def uu(name: str, data: bytes) -> bytes:
    lines = [binascii.b2a_uu(data[i : i + 45]).replace(b"\n", b"\r\n") for i in range(0, len(data), 45)]
    return f"begin 644 {name}\r\n".encode() + b"".join(lines) + b"`\r\nend\r\n"


def evasions() -> list[Case]:
    exe_zip = zip_bytes({"hoa-don.pdf.exe": PE})
    return [
        Case(
            "x-uuencode-zip-exe",
            "evasion",
            with_part(
                b'Content-Type: application/octet-stream; name="hoa-don.zip"\r\n'
                b"Content-Transfer-Encoding: x-uuencode\r\n",
                uu("hoa-don.zip", exe_zip),
            ),
            EXE,
        ),
        Case(
            "uu-block-in-body",
            "evasion",
            message(b"Gui anh file cai dat:\r\n\r\n" + uu("setup.exe", PE) + b"\r\nThanks\r\n"),
            EXE,
        ),
        Case(
            "uu-zip-in-base64-body",
            "evasion",
            message(b64(b"xem file:\r\n" + uu("a.zip", exe_zip)), b"Content-Transfer-Encoding: base64\r\n"),
            EXE,
        ),
        Case(
            "cte-7bit-then-base64",
            "evasion",
            with_part(
                b'Content-Type: application/octet-stream; name="hoa-don.pdf"\r\nContent-Transfer-Encoding: 7bit\r\n'
                b"Content-Transfer-Encoding: base64\r\n",
                b64(PE),
            ),
            EXE,
        ),
        Case(
            "ctype-text-then-exe",
            "evasion",
            with_part(
                b'Content-Type: text/plain\r\nContent-Type: application/x-msdownload; name="setup.exe"\r\n',
                b"MZ harmless",
            ),
            EXE,
        ),
        Case(
            "disposition-inline-then-exe",
            "evasion",
            with_part(
                b"Content-Type: text/plain\r\n"
                b"Content-Disposition: inline\r\n"
                b'Content-Disposition: attachment; filename="setup.exe"\r\n',
                b"text",
            ),
            EXE,
        ),
        Case(
            "name-exe-filename-pdf",
            "evasion",
            with_part(
                b'Content-Type: application/octet-stream; name="setup.exe"\r\n'
                b'Content-Disposition: attachment; filename="hoa-don.pdf"\r\n',
                b"%PDF-1.4 harmless",
            ),
            EXE,
        ),
        Case(
            "unknown-cte-base64-exe",
            "evasion",
            with_part(
                b'Content-Type: application/octet-stream; name="a.dat"\r\nContent-Transfer-Encoding: x-base64\r\n',
                b64(PE),
            ),
            EXE,
        ),
        Case(
            "text-part-no-name-exe",
            "evasion",
            with_part(b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n", b64(PE)),
            EXE,
        ),
    ]


def all_cases(quick: bool, inline_size: int) -> list[Case]:
    size = 2**27 if quick else 2**29
    text_size = 2**18 if quick else 2**20
    return [*bombs(size), *structures(), *pdfs(), *texts(text_size, inline_size), *headers(), *evasions()]
