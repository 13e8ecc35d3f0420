"""The hostile messages: a bomb for every codec, adversarial text for every pattern, huge structures,
header floods, and the encoding evasions mail clients decode.

Each case says what must come of it: ``expect`` rules of which one at least must be found, or ()
for "decided, whatever the verdict" (adversarial text carries no violation; what matters is that
it was read to the end in bounded time).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.samples.archive_builders import PE, nested_zip_bomb, overlapping_zip_bomb, zip_bytes  # noqa: E402
from tests.samples.hostile_builders import (  # noqa: E402
    attachment,
    b64,
    deep_multipart,
    deflate_zip_bomb,
    many_parts,
    message,
    nested_messages,
    pdf_with_form,
    pdf_with_page,
    sevenzip_bomb,
    sevenzip_deflate,
    stream_bomb,
    tar_gz_bomb,
    uu,
    with_part,
    zip_bomb,
)

LIMIT = ("inspection-limit",)
EXE = ("executable-attachment",)


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # bomb | structure | text | header | evasion
    raw: bytes
    expect: tuple[str, ...]


# --- codecs -------------------------------------------------------------------------------------


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


# --- structures ---------------------------------------------------------------------------------


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


def pdfs() -> list[Case]:
    """Documents whose text extraction pypdf would spend seconds on."""
    operators = b"BT /F1 12 Tf 10 10 Td (x) Tj ET\n"
    return [
        Case("pdf-page-operators-flate", "document", attachment("a.pdf", pdf_with_page(operators * 200_000, True)), ()),
        Case("pdf-page-just-below-cap", "document", attachment("b.pdf", pdf_with_page(operators * 7_800, True)), ()),
        Case("pdf-form-drawn-1000-times", "document", attachment("d.pdf", pdf_with_form(operators * 30_000, 1000)), ()),
        Case("pdf-page-numbers", "document", attachment("c.pdf", pdf_with_page(b"1 " * 130_000, False)), ()),
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
