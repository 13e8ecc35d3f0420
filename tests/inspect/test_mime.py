"""The bounded MIME walker: exact sizes, RFC 2231 names, hostile input never raises."""

from __future__ import annotations

import base64
import random
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.inspect.limits import Limits
from monitor.inspect.mime import parse_message, plain_text_only
from monitor.inspect.pipeline import Settings, evaluate
from rules.facts import Domains
from rules.profile import load_profile
from tests.conftest import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
SETTINGS = Settings(
    domains=Domains(local=("example.gov.vn",), government=("gov.vn",)),
    profile=load_profile("dn-2022"),
    limits=Limits(),
)


def big_attachment_message(decoded_size: int) -> bytes:
    """A message with one attachment of exactly ``decoded_size`` bytes, base64 in 76-char lines."""
    payload = base64.encodebytes(b"\x00" * decoded_size).replace(b"\n", b"\r\n")
    return (
        b"From: hoant.stttt@example.gov.vn\r\nTo: vanphong@example.gov.vn\r\nSubject: big\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n"
        b"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nxem tep\r\n"
        b"--XYZ\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="bao-cao.pdf"\r\n\r\n' + payload + b"--XYZ--\r\n"
    )


def test_thirty_mebibytes_pass_and_one_byte_more_does_not() -> None:
    limit = 30 * 2**20
    exact = evaluate(big_attachment_message(limit), "a@example.gov.vn", ("b@example.gov.vn",), SETTINGS)
    assert exact.attachments[0].size == limit
    assert [f.rule for f in exact.findings] == []
    over = evaluate(big_attachment_message(limit + 1), "a@example.gov.vn", ("b@example.gov.vn",), SETTINGS)
    assert [f.rule for f in over.findings] == ["attachment-too-large"]
    assert "31,457,281" in over.findings[0].detail


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_sizes_match_the_stdlib_decoder(sizes: list[int]) -> None:
    msg = EmailMessage(policy=policy.default.clone(linesep="\r\n"))
    msg["Subject"] = "sizes"
    msg.set_content("body")
    rng = random.Random(sum(sizes))
    for i, size in enumerate(sizes):
        msg.add_attachment(rng.randbytes(size), maintype="application", subtype="octet-stream", filename=f"f{i}.bin")
    raw = msg.as_bytes()
    ours = [a.size for a in parse_message(raw, Limits()).attachments]
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    theirs = [len(p.get_payload(decode=True)) for p in parsed.iter_attachments()]
    assert ours == theirs


def test_rfc2231_and_encoded_word_names() -> None:
    raw = (
        b"From: a@b.vn\r\nSubject: =?UTF-8?B?QsOhbyBjw6Fv?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''H%C3%B3a%20%C4%91%C6%A1n.pdf.exe\r\n\r\nxx\r\n"
        b'--b\r\nContent-Type: application/pdf; name="=?UTF-8?B?QuG6o25nIGvDqi5wZGY=?="\r\n\r\n%PDF-1\r\n--b--\r\n'
    )
    parsed = parse_message(raw, Limits())
    assert parsed.subject == "Báo cáo"
    assert [a.filename for a in parsed.attachments] == ["Hóa đơn.pdf.exe", "Bảng kê.pdf"]


def test_limits_are_findings_not_crashes() -> None:
    many = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(10_000))
    raw = b"From: a@b.vn\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + many + b"--b--\r\n"
    result = evaluate(raw, "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert [f.rule for f in result.findings] == ["inspection-limit"]
    assert str(result.verdict.action) == "quarantine"

    huge_header = b"From: a@b.vn\r\nX-Long: " + b"a" * 2**20 + b"\r\nSubject: x\r\n\r\nbody\r\n"
    result = evaluate(huge_header, "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert "header block over" in result.findings[0].detail

    nested = b"From: a@b.vn\r\n"
    for depth in range(30):
        nested += f"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n".encode()
    nested += b"Content-Type: text/plain\r\n\r\nx\r\n"
    result = evaluate(nested, "a@gmail.com", ("b@example.gov.vn",), SETTINGS)
    assert any("nesting deeper" in f.detail for f in result.findings)


def test_a_charset_name_python_cannot_use_is_a_problem_not_a_crash() -> None:
    for charset in ("x-unheard-of", "utf\x008"):  # unknown, and a NUL inside the name (ValueError)
        raw = f"From: a@b.vn\r\nContent-Type: text/plain; charset=\"{charset}\"\r\n\r\nXin chao\r\n".encode()
        parsed = parse_message(raw, Limits())
        assert parsed.body_text == ["Xin chao\r\n"]
        assert any("unknown charset" in p for p in parsed.problems)


def _corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*/*.eml"))]


@given(data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_samples_never_raise(data: st.DataObject) -> None:
    corpus = _corpus()
    raw = bytearray(data.draw(st.sampled_from(corpus)))
    for _ in range(data.draw(st.integers(min_value=1, max_value=20))):
        op = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        pos = data.draw(st.integers(min_value=0, max_value=max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(min_value=0, max_value=255))
        elif op == "cut":
            del raw[pos : pos + data.draw(st.integers(min_value=1, max_value=500))]
        else:
            raw[pos:pos] = raw[pos : pos + data.draw(st.integers(min_value=1, max_value=200))]
    evaluate(bytes(raw), "a@gmail.com", ("b@example.gov.vn",), SETTINGS)


@given(st.binary(max_size=4000))
@settings(max_examples=200, deadline=None)
def test_random_bytes_never_raise(raw: bytes) -> None:
    evaluate(raw, "", ("b@example.gov.vn",), SETTINGS)


def test_only_a_short_single_text_message_counts_as_plain() -> None:
    plain = b"From: a@b.vn\r\nSubject: Giay moi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKinh gui\r\n"
    assert plain_text_only(plain, 64 * 1024)
    assert plain_text_only(b"From: a@b.vn\r\n\r\nno content type at all\r\n", 64 * 1024)
    assert not plain_text_only(plain + b"x" * 70_000, 64 * 1024)  # too long
    for header in (
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: application/zip",
        b'Content-Disposition: attachment; filename="a.exe"',
        b"Content-Type: text/plain; name=a.txt",
        b"Content-Type: message/rfc822",
        b"Content-Type:\r\n MULTIPART/alternative; boundary=x",  # folded, upper case
    ):
        assert not plain_text_only(b"From: a@b.vn\r\n" + header + b"\r\n\r\nbody\r\n", 64 * 1024), header
    # A header block too long to look at cheaply goes to a worker.
    assert not plain_text_only(b"From: a@b.vn\r\n" + b"X-A: b\r\n" * 2000 + b"\r\nbody\r\n", 64 * 1024)
