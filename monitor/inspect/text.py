"""Bounded text extraction from attachments (DOCX/XLSX/PPTX, ODT, PDF, plain text) for content rules."""

from __future__ import annotations

import gc
import html
import io
import logging
import re
import warnings
import zipfile

from monitor.inspect.limits import Budget
from monitor.inspect.streams import read_capped, zip_member_pieces

# Paragraph, line and cell ends in WordprocessingML / DrawingML / SpreadsheetML / ODF become newlines.
_BREAKS = re.compile(rb"</w:p>|<w:br/>|</a:p>|</si>|</text:p>|</text:h>|<text:line-break/>")
_TABS = re.compile(rb"<w:tab/>|<text:tab/>")
# XML is mostly markup: read this many bytes of a part per character of text allowed.
_XML_BYTES_PER_CHAR = 8

OOXML_TEXT_PARTS = re.compile(
    r"word/(document|header\d*|footer\d*|footnotes|endnotes)\.xml|xl/sharedStrings\.xml|ppt/slides/slide\d+\.xml"
)


def strip_tags(text: str, gap: str = " ") -> str:
    """``text`` with each ``<…>`` replaced by ``gap``, in one pass.

    Not ``re.sub("<[^>]*>")``: on text with many ``<`` and no ``>`` every ``<`` makes that pattern
    scan to the end (64 KiB of ``<`` took 3.5 s). Here a ``<`` with no ``>`` after it ends the tags.
    """
    out: list[str] = []
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0:
            break
        gt = text.find(">", lt + 1)
        if gt < 0:
            break
        out.append(text[pos:lt])
        out.append(gap)
        pos = gt + 1
    out.append(text[pos:])
    return "".join(out)


def strip_xml_tags(xml: bytes) -> bytes:
    """``xml`` without its tags, in one pass (as ``strip_tags``)."""
    out: list[bytes] = []
    pos = 0
    while True:
        lt = xml.find(b"<", pos)
        if lt < 0:
            break
        gt = xml.find(b">", lt + 1)
        if gt < 0:
            break
        out.append(xml[pos:lt])
        pos = gt + 1
    out.append(xml[pos:])
    return b"".join(out)


def xml_text(xml: bytes) -> str:
    """The character data of an XML part: tags stripped, paragraph ends kept, entities decoded."""
    xml = _BREAKS.sub(b"\n", xml)
    xml = _TABS.sub(b"\t", xml)
    return html.unescape(strip_xml_tags(xml).decode("utf-8", "replace"))


def zip_document_text(zf: zipfile.ZipFile, data: bytes, kind: str, budget: Budget) -> str:
    """Text of an OOXML (body, headers, footers, cells, slides) or ODF (content.xml) package."""
    if kind == "odf":
        parts = ["content.xml", "styles.xml"]
    else:
        parts = sorted(
            (n for n in zf.namelist() if OOXML_TEXT_PARTS.fullmatch(n)),
            key=lambda n: (not n.startswith("word/document"), n),
        )
    max_chars = budget.limits.max_extracted_text_chars
    chunks: list[str] = []
    used = 0
    for part in parts:
        if used >= max_chars or budget.out_of_time():
            break
        raw = _read_part(zf, data, part, (max_chars - used) * _XML_BYTES_PER_CHAR)
        if not budget.charge(len(raw)):
            break
        text = xml_text(raw).strip()
        chunks.append(text)
        used += len(text)
    return "\n".join(chunks)[:max_chars]


def _read_part(zf: zipfile.ZipFile, data: bytes, part: str, limit: int) -> bytes:
    """At most ``limit`` bytes of one part, decoded in capped steps (never zipfile's own reader)."""
    try:
        info = zf.getinfo(part)
        if info.flag_bits & 0x1:
            return b""
        return read_capped(zip_member_pieces(data, info), limit)[0]
    except Exception:  # a damaged part: skip it, the other parts may still read
        return b""


def pdf_text(data: bytes, budget: Budget) -> tuple[str, str]:
    """(text, problem) of a PDF: at most max_pdf_pages pages, characters and the time budget."""
    # pypdf reports every oddity of a broken PDF through logging and warnings; we only want text.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    # pypdf looks for the %%EOF line by reading backwards one line at a time, to the first byte when
    # there is none (1.3 s for a 25 MB file): find it at C speed, and cut off what follows it (a copy,
    # so only when more than a line or two follows).
    end = data.rfind(b"%%EOF")
    if end < 0:
        return "", "PDF has no %%EOF marker; text not read"
    if len(data) - end > 64:
        data = data[: end + 5]
    try:
        return _pages_text(data, budget)
    finally:
        if len(data) >= 2**20:
            # pypdf's reader is a web of cycles (reader, pages and objects refer to each other) that
            # holds the document and its big streams: left to the cyclic GC, a worker kept ~50 MB
            # a big PDF until the next full pass. A full collection here costs about 5 ms.
            gc.collect()


def _pages_text(data: bytes, budget: Budget) -> tuple[str, str]:
    from pypdf import PdfReader

    limits = budget.limits
    chunks: list[str] = []
    used = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # Not a bare BytesIO: pypdf asks a BytesIO for getbuffer() (to learn its size), and that
            # makes the BytesIO copy the document it was sharing (25 MB more for a 25 MB PDF).
            reader = PdfReader(io.BufferedReader(io.BytesIO(data)), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                return "", "PDF is password-protected; text not read"
            for number, page in enumerate(reader.pages):
                if number >= limits.max_pdf_pages:
                    return "\n".join(chunks), f"PDF text read from the first {limits.max_pdf_pages} pages only"
                if used >= limits.max_extracted_text_chars or budget.out_of_time():
                    break
                text = page.extract_text() or ""
                chunks.append(text)
                used += len(text)
        except Exception as exc:  # hostile PDFs break pypdf in many ways; keep what was read
            return "\n".join(chunks)[: limits.max_extracted_text_chars], f"PDF partly unreadable: {type(exc).__name__}"
    return "\n".join(chunks)[: limits.max_extracted_text_chars], ""


def plain_text(raw: bytes, charset: str | None) -> str:
    """Bytes of a text attachment as text, in its declared charset (UTF-8 if unknown)."""
    try:
        return raw.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", "replace")
