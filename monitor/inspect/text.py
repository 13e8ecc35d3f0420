"""Bounded text extraction from attachments (DOCX/XLSX/PPTX, ODT, PDF, plain text) for content rules."""

from __future__ import annotations

import contextlib
import gc
import html
import io
import logging
import re
import warnings
import zipfile
from typing import Any

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
    except MemoryError:
        raise  # the worker's ceiling: its own verdict, and a fresh worker
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


class _OutOfTime(Exception):
    """Raised from inside pypdf's extraction when the PDF text time of the message is spent."""


# pypdf's own caps on what one stream may decode to (its defaults are 75 MB each), and on the
# content of one page: pypdf parses a page's whole content stream (and each form it draws) before
# it visits any operator, at about 0.9 s per MiB, so that parse is bounded by the size allowed.
_PDF_STREAM_BYTES = 8 * 2**20
_PDF_PAGE_CONTENT_BYTES = 128 * 1024
_PDF_FORMS = 64


def _pdf_limits() -> contextlib.AbstractContextManager[object]:
    try:
        from pypdf import apply_configuration  # pypdf 7+
    except ImportError:
        return contextlib.nullcontext()
    cap = _PDF_STREAM_BYTES
    return apply_configuration(
        zlib_maximum_output_length=cap,
        lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap,
        array_based_stream_maximum_output_length=cap,
        jbig2_maximum_output_length=cap,
    )


def _pages_text(data: bytes, budget: Budget) -> tuple[str, str]:
    """Text of the first pages, within the message's PDF time (``max_pdf_seconds``, all PDFs together).

    pypdf reads one page with no bound of its own (a 7 KB PDF whose page repeats one text operator
    80,000 times took 2.7 s): every operator passes through a visitor here, which stops the page when
    the time is spent.
    """
    from pypdf import PdfReader

    limits = budget.limits
    chunks: list[str] = []
    used = 0
    stop_at = budget.clock() + max(0.0, min(budget.pdf_seconds_left(), budget.seconds_left()))
    started = budget.clock()
    operators = 0

    def visitor(op: object, args: object, cm: object, tm: object) -> None:
        nonlocal operators
        operators += 1
        if operators % 512 == 0 and budget.clock() > stop_at:
            raise _OutOfTime

    with warnings.catch_warnings(), _pdf_limits():
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
                if budget.clock() > stop_at:
                    raise _OutOfTime
                if _content_bytes(page) > _PDF_PAGE_CONTENT_BYTES:
                    why = f"PDF page {number + 1}: over {_PDF_PAGE_CONTENT_BYTES} bytes of content; text read before it"
                    return "\n".join(chunks), why
                text = page.extract_text(visitor_operand_before=visitor) or ""
                chunks.append(text)
                used += len(text)
        except _OutOfTime:
            text = "\n".join(chunks)[: limits.max_extracted_text_chars]
            return text, f"PDF text reading stopped after {limits.max_pdf_seconds:g} s (pages {len(chunks)} read)"
        except MemoryError:
            raise  # the worker's ceiling: its own verdict, and a fresh worker
        except Exception as exc:  # hostile PDFs break pypdf in many ways; keep what was read
            return "\n".join(chunks)[: limits.max_extracted_text_chars], f"PDF partly unreadable: {type(exc).__name__}"
        finally:
            budget.pdf_seconds += budget.clock() - started
    return "\n".join(chunks)[: limits.max_extracted_text_chars], ""


def _content_bytes(page: Any) -> int:
    """Decoded size of what pypdf parses to read a page's text: its content streams and the form
    XObjects it may draw, nested ones too (at most ``_PDF_FORMS`` of them; more counts as too much)."""
    contents = page.get("/Contents")
    total = 0
    if contents is not None:
        obj = contents.get_object()
        streams = obj if isinstance(obj, list) else [obj]
        total += sum(len(s.get_object().get_data()) for s in streams)
    seen: set[int] = set()
    pending: list[Any] = [page.get("/Resources")]
    while pending and total <= _PDF_PAGE_CONTENT_BYTES:
        resources: Any = pending.pop()
        resources = resources.get_object() if resources is not None else None
        xobjects: Any = resources.get("/XObject") if hasattr(resources, "get") else None
        xobjects = xobjects.get_object() if xobjects is not None else None
        if not hasattr(xobjects, "values"):
            continue
        for ref in xobjects.values():
            form = ref.get_object()
            if id(form) in seen or form.get("/Subtype") != "/Form":
                continue
            seen.add(id(form))
            if len(seen) > _PDF_FORMS:
                return _PDF_PAGE_CONTENT_BYTES + 1
            total += len(form.get_data())
            pending.append(form.get("/Resources"))
    return total


def plain_text(raw: bytes, charset: str | None) -> str:
    """Bytes of a text attachment as text, in its declared charset (UTF-8 if unknown)."""
    try:
        return raw.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", "replace")
