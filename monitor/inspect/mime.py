"""Parse one message into rule facts with a bounded, copy-light MIME walk.

The stdlib parser holds a message about 8× in memory and spends ~0.8 s on a 41 MB one
(docs/libraries.md, "MIME parsing"). This walker parses only header blocks with the stdlib and finds
parts by scanning for their boundaries in the raw bytes; part bodies are decoded only where a rule
needs their content (the first 64 KiB for the true type, a whole archive to list its members, text
for the body). Sizes of base64 parts are computed exactly from the encoded length. Every loop is
bounded by ``Limits``; hitting one is recorded in ``limit_hits`` (a finding, never a crash or a
silent pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import NamedTuple

from monitor.inspect.archives import INSPECTED, Report, inspect_attachment
from monitor.inspect.filetypes import SNIFF_BYTES, sniff
from monitor.inspect.limits import Budget, Limits
from monitor.inspect.office import macro_by_name
from monitor.inspect.text import plain_text
from monitor.inspect.transfer_encoding import decode, decoded_size
from rules.facts import Attachment, Member

_HEADER_PARSER = BytesHeaderParser(policy=policy.default)
_TAG = re.compile(r"<[^>]*>")


class BodyRange(NamedTuple):
    """Where an attachment's body lies in the raw message, and how it is encoded (for clamd)."""

    start: int
    end: int
    cte: str
    name: str
    size: int  # decoded


@dataclass
class ParsedMessage:
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    body_text: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    limit_hits: list[str] = field(default_factory=list)
    parts: int = 0
    budget: Budget | None = field(default=None, repr=False)
    # Attachment bodies of the outermost message only (offsets into the bytes given to parse_message).
    attachment_ranges: list[BodyRange] = field(default_factory=list)
    outermost: bool = True


def parse_message(buf: bytes, limits: Limits, *, depth: int = 0, budget: Budget | None = None) -> ParsedMessage:
    """Walk the message in ``buf``; never raises on malformed input.

    ``budget`` is shared with the messages attached inside this one (one budget per message).
    """
    out = ParsedMessage()
    out.budget = budget if budget is not None else Budget(limits, out.limit_hits)
    if budget is not None:
        out.limit_hits = budget.hits
        out.outermost = False
    head_end, body_start = _split_headers(buf, 0, len(buf), limits, out)
    top = _parse_headers(buf[:head_end], out)
    for name, value in _safe_items(top, out):
        out.headers.append((name, value))
    out.subject = str(top.get("subject", "") or "")
    _walk_entity(buf, top, body_start, len(buf), depth, limits, out)
    return out


# Header words of anything but one text body: parts, attachments, documents, nested messages.
_NOT_PLAIN = re.compile(rb"multipart|message/|application/|image/|audio/|video/|model/|attachment|name\s*\*?=", re.I)
PLAIN_HEADER_BYTES = 8 * 1024


def plain_text_only(buf: bytes, limit: int) -> bool:
    """True for a message of at most ``limit`` bytes whose short header block declares nothing but
    one text body: parsing it is a few header lines and some text, never an archive or a document,
    so it costs well under a millisecond wherever it runs."""
    if len(buf) > limit:
        return False
    ends = [
        i for i in (buf.find(b"\r\n\r\n", 0, PLAIN_HEADER_BYTES), buf.find(b"\n\n", 0, PLAIN_HEADER_BYTES)) if i >= 0
    ]
    if not ends:
        return len(buf) <= PLAIN_HEADER_BYTES and not _NOT_PLAIN.search(buf)
    return not _NOT_PLAIN.search(buf, 0, min(ends))


def _split_headers(buf: bytes, start: int, end: int, limits: Limits, out: ParsedMessage) -> tuple[int, int]:
    """(end of the header block, start of the body) of the entity at ``start``."""
    if buf.startswith(b"\r\n", start):
        return start, start + 2
    if buf.startswith(b"\n", start):
        return start, start + 1
    window = min(end, start + limits.max_header_bytes)
    crlf = buf.find(b"\r\n\r\n", start, window)
    lf = buf.find(b"\n\n", start, window)
    candidates = [(i, n) for i, n in ((crlf, 4), (lf, 2)) if i >= 0]
    if not candidates:
        if window < end:
            out.limit_hits.append(f"header block over {limits.max_header_bytes} bytes")
            return window, window
        return end, end  # headers only, no body
    i, n = min(candidates)
    return i + n // 2, i + n


def _parse_headers(raw: bytes, out: ParsedMessage) -> EmailMessage:
    try:
        msg = _HEADER_PARSER.parsebytes(raw + b"\r\n\r\n")
    except Exception as exc:  # the stdlib parser is lenient; be safe anyway
        out.problems.append(f"unparsable header block: {type(exc).__name__}")
        return EmailMessage(policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _safe_items(msg: EmailMessage, out: ParsedMessage) -> list[tuple[str, str]]:
    """Every header in order, decoded; a value the policy cannot parse is kept raw."""
    items: list[tuple[str, str]] = []
    for name, raw in msg.raw_items():
        try:
            items.append((name, str(msg.policy.header_fetch_parse(name, raw))))
        except Exception as exc:  # a malformed header value must not stop the scan
            out.problems.append(f"malformed header {name}: {type(exc).__name__}")
            items.append((name, str(raw)))
    return items


def _walk_entity(
    buf: bytes,
    hdr: EmailMessage,
    body_start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
) -> None:
    out.parts += 1
    if out.parts > limits.max_mime_parts:
        if out.parts == limits.max_mime_parts + 1:
            out.limit_hits.append(f"more than {limits.max_mime_parts} MIME parts")
        return
    ctype = _content_type(hdr, out)
    if ctype.startswith("multipart/"):
        boundary = hdr.get_boundary()
        if not boundary:
            out.problems.append("multipart without a boundary")
            return
        if depth + 1 > limits.max_mime_depth:
            out.limit_hits.append(f"MIME nesting deeper than {limits.max_mime_depth}")
            return
        for s, e in _split_multipart(buf, body_start, end, boundary.encode("utf-8", "replace"), out):
            head_end, part_body = _split_headers(buf, s, e, limits, out)
            part = _parse_headers(buf[s:head_end], out)
            _walk_entity(buf, part, part_body, e, depth + 1, limits, out)
            if out.parts > limits.max_mime_parts:
                return
        return
    _leaf(buf, hdr, ctype, body_start, end, depth, limits, out)


def _content_type(hdr: EmailMessage, out: ParsedMessage) -> str:
    try:
        return hdr.get_content_type()
    except Exception:
        out.problems.append("unparsable Content-Type")
        return "application/octet-stream"


def _split_multipart(buf: bytes, start: int, end: int, boundary: bytes, out: ParsedMessage) -> list[tuple[int, int]]:
    """(start, end) of each body part between the delimiter lines of ``boundary``."""
    delim = b"--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        i = buf.find(delim, pos, end)
        if i < 0:
            if part_start is not None:
                out.problems.append("multipart without its closing boundary")
                parts.append((part_start, end))
            return parts
        pos = i + len(delim)
        if i != start and buf[i - 1] != 0x0A:
            continue  # not at the start of a line
        after = buf[pos : pos + 2]
        closing = after == b"--"
        if not closing and after[:1] not in (b"\r", b"\n", b" ", b"\t", b""):
            continue  # a longer boundary that merely starts with ours
        if part_start is not None:
            content_end = i - 2 if buf[i - 2 : i] == b"\r\n" else i - 1
            parts.append((part_start, max(part_start, content_end)))
        if closing:
            return parts
        line_end = buf.find(b"\n", pos, end)
        part_start = end if line_end < 0 else line_end + 1


def _leaf(
    buf: bytes,
    hdr: EmailMessage,
    ctype: str,
    start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
) -> None:
    cte = str(hdr.get("content-transfer-encoding", "7bit") or "7bit").strip().lower()
    try:
        filename = hdr.get_filename()
    except Exception:
        filename = None
        out.problems.append("unparsable attachment file name")
    disposition = (hdr.get_content_disposition() or "").lower()
    is_body = ctype.startswith("text/") and not filename and disposition != "attachment"
    if is_body:
        _collect_text(buf, hdr, ctype, cte, start, end, limits, out)
        return
    size = decoded_size(buf, start, end, cte)
    head = decode(buf, start, end, cte, SNIFF_BYTES)
    true_type = sniff(head)
    budget = out.budget
    assert budget is not None
    display = filename or f"({ctype})"
    if out.outermost:
        out.attachment_ranges.append(BodyRange(start, end, cte, display, size))
    report = Report(true_type, macro=macro_by_name(display))
    if ctype == "message/rfc822" or (true_type is None and display.lower().endswith(".eml")):
        true_type = "message"
        report = _attached_message(decode(buf, start, end, cte, limits.max_decode_bytes), depth, limits, out)
    elif true_type in INSPECTED:
        if size > limits.max_decode_bytes:
            budget.hit(f"{display}: archive of {size} bytes over {limits.max_decode_bytes}")
        elif not budget.out_of_time():
            data = decode(buf, start, end, cte, limits.max_decode_bytes)
            report = inspect_attachment(data, display, true_type, budget)
            true_type = report.kind
    elif ctype.startswith("text/") and true_type is None:
        # A text file sent as an attachment: its words matter to the content rules.
        raw = decode(buf, start, end, cte, limits.max_extracted_text_chars * 4)
        text = plain_text(raw, _charset(hdr))
        if ctype == "text/html":
            text = _TAG.sub(" ", text)
        report.texts.append(budget.take_text(text))
    out.attachments.append(
        Attachment(
            filename=filename,
            content_type=ctype,
            size=size,
            true_type=true_type,
            members=tuple(report.members),
            problems=tuple(report.problems),
            encrypted=report.encrypted,
            macro=report.macro,
            text=report.text,
        )
    )


def _attached_message(data: bytes, depth: int, limits: Limits, out: ParsedMessage) -> Report:
    """A message attached to a message: its attachments become members (depth 1 and below)."""
    report = Report("message")
    if depth + 1 > limits.max_mime_depth:
        out.limit_hits.append(f"attached messages nested deeper than {limits.max_mime_depth}")
        return report
    # The inner message shares this message's budget, so its limit hits land in ours directly.
    inner = parse_message(data, limits, depth=depth + 1, budget=out.budget)
    out.parts += inner.parts
    for att in inner.attachments:
        report.members.append(Member(att.display_name, att.size, 1, att.true_type))
        report.members.extend(replace(m, depth=m.depth + 1) for m in att.members)
        report.encrypted = report.encrypted or att.encrypted
        report.macro = report.macro or att.macro
        report.problems.extend(att.problems)
        if att.text:
            report.texts.append(att.text)
    report.texts.extend(inner.body_text)
    return report


def _charset(hdr: EmailMessage) -> str | None:
    try:
        return hdr.get_content_charset()
    except Exception:  # a malformed Content-Type parameter
        return None


def _collect_text(
    buf: bytes,
    hdr: EmailMessage,
    ctype: str,
    cte: str,
    start: int,
    end: int,
    limits: Limits,
    out: ParsedMessage,
) -> None:
    used = sum(len(t) for t in out.body_text)
    if used >= limits.max_text_bytes:
        return
    raw = decode(buf, start, end, cte, limits.max_text_bytes - used)
    charset = hdr.get_content_charset() or "utf-8"
    try:
        text = raw.decode(charset, "replace")
    except (LookupError, ValueError):  # unknown, or a NUL in the name
        text = raw.decode("utf-8", "replace")
        out.problems.append(f"unknown charset {charset}")
    if ctype == "text/html":
        text = _TAG.sub(" ", text)
    out.body_text.append(text)
