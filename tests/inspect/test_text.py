"""Bounded text extraction: a known Vietnamese sentence comes out of DOCX, ODT, PDF and text attachments."""

from __future__ import annotations

import base64

from monitor.inspect.limits import Budget, Limits
from monitor.inspect.mime import parse_message
from monitor.inspect.text import pdf_text, xml_text
from tests.samples.archive_builders import SECRET, docx_bytes, odt_bytes, pdf_bytes, zip_bytes


def message_with(filename: str, data: bytes, ctype: str, charset: str = "") -> bytes:
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    params = f"; charset={charset}" if charset else ""
    return (
        b"From: a@example.gov.vn\r\nTo: b@example.gov.vn\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nxem\r\n"
        b"--B\r\nContent-Type: " + ctype.encode() + params.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="' + filename.encode() + b'"\r\n\r\n' + body + b"--B--\r\n"
    )


def attachment_text(filename: str, data: bytes, ctype: str = "application/octet-stream", **kw: str) -> str:
    parsed = parse_message(message_with(filename, data, ctype, **kw), Limits())
    (att,) = parsed.attachments
    return att.text


def test_docx_body_and_header() -> None:
    text = attachment_text("bao-cao.docx", docx_bytes())
    assert SECRET in text and "Đầu trang" in text and "Số: 12/BC" in text


def test_odt() -> None:
    assert SECRET in attachment_text("bao-cao.odt", odt_bytes())


def test_pdf() -> None:
    assert SECRET in attachment_text("bao-cao.pdf", pdf_bytes(), "application/pdf")


def test_plain_text_attachment_in_its_charset() -> None:
    data = f"Tài liệu {SECRET}".encode("utf-16")
    assert SECRET in attachment_text("ghi-chu.txt", data, "text/plain", charset="utf-16")


def test_document_inside_a_zip() -> None:
    assert SECRET in attachment_text("ho-so.zip", zip_bytes({"a/bao-cao.docx": docx_bytes()}), "application/zip")


def test_text_is_capped_per_attachment_and_per_message() -> None:
    limits = Limits(max_extracted_text_chars=1000)
    long_doc = docx_bytes("chữ " * 5000)
    raw = message_with("a.docx", long_doc, "application/octet-stream")
    parsed = parse_message(raw, limits)
    assert 0 < len(parsed.attachments[0].text) <= 1000
    budget = Budget(limits, [])
    assert len(budget.take_text("x" * 600)) == 600
    assert len(budget.take_text("y" * 600)) == 400
    assert budget.take_text("z") == ""


def test_xml_text_keeps_paragraphs_and_entities() -> None:
    assert xml_text(b"<w:p><w:t>A &amp; B</w:t></w:p><w:p><w:t>C</w:t></w:p>") == "A & B\nC\n"


def test_hostile_pdfs_never_raise() -> None:
    budget = Budget(Limits(), [])
    good = pdf_bytes()
    for broken in (
        b"%PDF-1.7\n" + b"\xff" * 5000,
        good[: len(good) // 2],
        good.replace(b"/Kids [3 0 R]", b"/Kids [2 0 R]"),
    ):
        text, problem = pdf_text(broken, budget)
        assert isinstance(text, str) and isinstance(problem, str)


def test_pdf_page_limit() -> None:
    budget = Budget(Limits(max_pdf_pages=0), [])
    text, problem = pdf_text(pdf_bytes(), budget)
    assert text == "" and "first 0 pages" in problem


def test_pdf_end_marker_is_found_without_reading_the_file_backwards_line_by_line() -> None:
    budget = Budget(Limits(), [])
    # Junk after the last %%EOF (appended data, a signature block) is not part of the document.
    text, problem = pdf_text(pdf_bytes() + b"\n" + b"x\n" * 50_000, budget)
    assert SECRET in text and problem == ""
    # 8 MB of short lines and no %%EOF: pypdf would walk every line backwards; we say why not read.
    text, problem = pdf_text(b"%PDF-1.7\n" + b"0 0 l\n" * 1_400_000, budget)
    assert text == "" and "%%EOF" in problem
