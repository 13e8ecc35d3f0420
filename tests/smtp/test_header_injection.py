"""What mailmon writes into a message: the X-Mailmon fields a sender forged are gone, the ones mailmon
adds are 7-bit (RFC 2047 for Vietnamese) and carry no control characters from a file name or a
scanner's error text. Through the real Postfix, and for the field builder on its own."""

from __future__ import annotations

import base64
import unicodedata
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack import MailStack
from monitor.inspect.added_headers import field, strip_fields
from tests.conftest import FilterFactory
from tests.samples.make_samples import PE

VANPHONG = "vanphong@example.gov.vn"
PARTNER = "lanhdao@partner.gov.vn"

# A file name with Vietnamese, a terminal escape and a CRLF that tries to start a Bcc header.
HOSTILE_NAME = "Báo cáo\x1b[31m\r\nBcc: ke-gian@example.com.exe"
QUOTED = "B%C3%A1o%20c%C3%A1o%1B%5B31m%0D%0ABcc%3A%20ke-gian%40example.com.exe"


def forged_message() -> bytes:
    return (
        f"From: {PARTNER}\r\nTo: {VANPHONG}\r\nSubject: bao cao\r\nMessage-ID: <forged-1@partner.gov.vn>\r\n"
        "X-Mailmon: pass (0 findings)\r\n"
        "X-Mailmon-Finding: none;\r\n  all clean, trust me\r\n"
        "x-mailmon-spam : no\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nXem tep.\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{QUOTED}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PE).decode()
        + "--b1--\r\n"
    ).encode()


@pytest.mark.stack
def test_forged_fields_are_dropped_and_added_ones_are_clean(stack: MailStack, run_filter: FilterFactory) -> None:
    run_filter('[rules.executable-attachment]\naction = "tag"\n')
    stack.send(forged_message(), PARTNER, [VANPHONG])
    # Picked by its Message-ID: a message deferred by an earlier test may arrive in the same box.
    def ours() -> list[Path]:
        box = stack.maildir(VANPHONG)
        files = [f for sub in ("new", "cur") for f in (box / sub).glob("*") if f.is_file()]
        return [f for f in files if b"<forged-1@partner.gov.vn>" in f.read_bytes()]

    stack.wait_until(lambda: len(ours()) == 1, 30, "the tagged delivery")
    data = ours()[0].read_bytes()
    head = data.split(b"\r\n\r\n" if b"\r\n\r\n" in data else b"\n\n", 1)[0]
    mailmon = [line for line in head.splitlines() if line.lower().startswith(b"x-mailmon")]
    assert [line.split(b":")[0] for line in mailmon] == [b"X-Mailmon", b"X-Mailmon-Finding"], mailmon
    assert head.isascii() and b"\x1b" not in head
    assert b"Bcc:" not in head and b"trust me" not in head and b"pass (0 findings)" not in head

    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert str(msg["X-Mailmon"]).startswith("tag")
    finding = str(make_header(decode_header(msg["X-Mailmon-Finding"])))
    assert "executable-attachment; DN-2022 Đ12.6; tag;" in finding
    assert "Báo cáo" in finding and "\x1b" not in finding and "\r" not in finding and "\n" not in finding


@given(st.text(max_size=200))
def test_any_value_makes_one_clean_field(value: str) -> None:
    out = field("X-Mailmon-Spam-Scan", value)
    assert out.isascii() and out.endswith(b"\r\n")
    lines = out[:-2].split(b"\r\n")
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:])  # folded, never a new field
    assert all(len(line) <= 78 for line in lines)
    assert not any(c < 0x20 and c != 0x09 for c in out[:-2].replace(b"\r\n", b""))
    decoded = str(make_header(decode_header(out.decode()[len("X-Mailmon-Spam-Scan: "):])))
    visible = "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cf") and not ch.isspace())
    assert "".join(decoded.split()) == visible


def test_strip_fields_keeps_everything_else() -> None:
    block = b"From: a\r\nX-Mailmon: pass\r\n folded\r\nSubject: x-mailmon test\r\nX-MAILMON-SPAM:no\r\nX-Mailmonx: kept\r\n"
    assert strip_fields(block) == b"From: a\r\nSubject: x-mailmon test\r\nX-Mailmonx: kept\r\n"
