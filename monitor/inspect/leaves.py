"""What one leaf MIME part becomes: body text, an attachment (looked into), an attached message, and
the uuencoded files a text may carry.

A part is judged by its bytes as well as its headers: a text part with no name whose bytes are an
executable or an archive is an attachment; every name a part gives (``filename=``, ``name=``) is
checked, not only the one a client would show; uuencoded ``begin 644 name`` blocks inside text
become attachments of their own, seen by every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from email.message import EmailMessage
from email.utils import collapse_rfc2231_value

from monitor.inspect.archives import INSPECTED, Report, inspect_attachment
from monitor.inspect.filetypes import SNIFF_BYTES, sniff
from monitor.inspect.headers import decode_text, known_charset
from monitor.inspect.limits import Limits
from monitor.inspect.office import macro_by_name
from monitor.inspect.parsed import BodyRange, ParsedMessage
from monitor.inspect.text import plain_text, strip_tags
from monitor.inspect.transfer_encoding import (
    IDENTITY,
    KNOWN,
    UUENCODE,
    decode,
    decoded_size,
    uu_begin,
    uu_blocks,
)
from rules.facts import Attachment, Member

# Parses a message found inside this one: (buf, start, end, depth) -> its facts.
Nested = Callable[[bytes, int, int, int], ParsedMessage]

# uuencoded files taken out of one text part at most (more is a limit hit).
MAX_UU_FILES = 16
# Types a text part may really be: anything else sniffed in it makes it an attachment.
_TEXT_TYPES = frozenset({None, "script"})
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n \t")


def leaf(
    buf: bytes,
    hdr: EmailMessage,
    ctype: str,
    start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
    nested: Nested,
    reading: str = "",
) -> None:
    """One leaf part, read under each transfer encoding it may be in."""
    cte = _cte(hdr, out)
    if cte in KNOWN:
        _leaf_as(buf, hdr, ctype, cte, start, end, depth, limits, out, nested, reading)
        return
    out.problem(f"unknown Content-Transfer-Encoding {cte[:40]!r}: read as bytes")
    out.clamd_raw = True
    _leaf_as(buf, hdr, ctype, "8bit", start, end, depth, limits, out, nested, reading)
    if _looks_base64(buf, start, end):
        alt = reading or f"Content-Transfer-Encoding {cte[:40]!r} read as base64"
        _leaf_as(buf, hdr, ctype, "base64", start, end, depth, limits, out, nested, alt)


# The stdlib's structured header classes raise on some malformed values (an IndexError in
# get_parameter, found by fuzzing): each reading here falls back to what a lenient client assumes.


def _cte(hdr: EmailMessage, out: ParsedMessage) -> str:
    try:
        return str(hdr.get("content-transfer-encoding", "7bit") or "7bit").strip().lower()
    except Exception:
        out.problem("unparsable Content-Transfer-Encoding: read as bytes")
        return "8bit"


def _disposition(hdr: EmailMessage, out: ParsedMessage) -> str:
    try:
        return (hdr.get_content_disposition() or "").lower()
    except Exception:
        out.problem("unparsable Content-Disposition: read as an attachment")
        return "attachment"


def _looks_base64(buf: bytes, start: int, end: int) -> bool:
    sample = buf[start : min(end, start + 4096)]
    return len(sample.strip()) >= 16 and all(c in _B64_ALPHABET for c in sample)


def _names(hdr: EmailMessage, out: ParsedMessage) -> tuple[str | None, list[str]]:
    """The name a client shows, and every other name the part gives itself."""
    try:
        filename = hdr.get_filename()
    except Exception:
        out.problem("unparsable attachment file name")
        return None, []
    others: list[str] = []
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        name = _param(hdr, param, header)
        if name and name != filename and name not in others:
            others.append(name)
    if others:
        out.problem(f"part names disagree: {filename!r} / {', '.join(repr(n) for n in others)}")
    return filename, others


def _param(hdr: EmailMessage, param: str, header: str) -> str:
    try:
        value = hdr.get_param(param, header=header)
        return collapse_rfc2231_value(value).strip() if value is not None else ""
    except Exception:  # a malformed parameter: the walk goes on with the other names
        return ""


def _leaf_as(
    buf: bytes,
    hdr: EmailMessage,
    ctype: str,
    cte: str,
    start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
    nested: Nested,
    reading: str,
) -> None:
    budget = out.budget
    assert budget is not None
    if cte in UUENCODE:
        out.clamd_raw = True
    filename, other_names = _names(hdr, out)
    disposition = _disposition(hdr, out)
    head = decode(buf, start, end, cte, SNIFF_BYTES)
    true_type = sniff(head)
    if ctype.startswith("text/") and not filename and disposition != "attachment" and not other_names:
        if true_type in _TEXT_TYPES:
            _collect_text(buf, hdr, ctype, cte, start, end, depth, limits, out)
            return
        out.problem(f"{ctype} part whose bytes are {true_type}: checked as an attachment")
    if cte in UUENCODE and not filename:
        begin = uu_begin(buf, start, min(end, start + 4096))
        filename = begin[1] if begin else None
    size = decoded_size(buf, start, end, cte)
    display = filename or f"({ctype})"
    if out.outermost and not reading:
        out.attachment_ranges.append(BodyRange(start, end, cte, display, size))
    report = Report(true_type, macro=macro_by_name(display))
    if ctype == "message/rfc822" or (true_type is None and display.lower().endswith(".eml")):
        true_type = "message"
        report = _attached_message(buf, start, end, cte, size, depth, limits, out, nested)
    elif true_type in INSPECTED:
        if size > limits.max_decode_bytes:
            budget.hit(f"{display}: archive of {size} bytes over {limits.max_decode_bytes}")
        elif not budget.out_of_time():
            data = decode(buf, start, end, cte, limits.max_decode_bytes)
            report = inspect_attachment(data, display, true_type, budget)
            true_type = report.kind
    elif ctype.startswith("text/") and true_type is None:
        # A text file sent as an attachment: its words matter to the content rules, and it may
        # carry uuencoded files like any text.
        raw = decode(buf, start, end, cte, limits.max_decode_bytes)
        text = plain_text(raw[: limits.max_extracted_text_chars * 4], _charset(hdr))
        if ctype == "text/html":
            text = strip_tags(text)
        report.texts.append(budget.take_text(text))
        _uu_files(raw, display, depth, limits, out)
    attachment = Attachment(
        filename=filename,
        content_type=ctype,
        size=size,
        true_type=true_type,
        members=tuple(report.members),
        problems=tuple(report.problems),
        encrypted=report.encrypted,
        macro=report.macro,
        text=report.text,
        reading=reading,
    )
    out.attachments.append(attachment)
    for name in other_names:
        # The same bytes under the other name: only the name is new to the rules.
        out.attachments.append(
            replace(attachment, filename=name, members=(), text="", true_type=None, reading=f"name {name!r}")
        )


def _attached_message(
    buf: bytes,
    start: int,
    end: int,
    cte: str,
    size: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
    nested: Nested,
) -> Report:
    """A message attached to a message: its attachments become members (depth 1 and below).

    Read in place when it is not encoded (no copy per level); decoded otherwise, the decoded bytes
    charged to the message's expanded-bytes budget like any decompression.
    """
    report = Report("message")
    budget = out.budget
    assert budget is not None
    if depth + 1 > limits.max_mime_depth:
        budget.hit(f"attached messages nested deeper than {limits.max_mime_depth}")
        return report
    if cte in IDENTITY:
        inner = nested(buf, start, end, depth + 1)
    else:
        if size > min(budget.room(), limits.max_decode_bytes):
            budget.hit(f"attached message of {size} bytes, over the expanded-bytes budget; not read")
            return report
        data = decode(buf, start, end, cte, limits.max_decode_bytes)
        if not budget.charge(len(data)):
            return report
        inner = nested(data, 0, len(data), depth + 1)
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
    depth: int,
    limits: Limits,
    out: ParsedMessage,
) -> None:
    """A text body: its words for the content rules (up to max_text_bytes for all bodies together),
    and the uuencoded files in all of it."""
    size = decoded_size(buf, start, end, cte) if cte not in IDENTITY else end - start
    if size > limits.max_decode_bytes:
        out.hit(f"text part of {size} bytes; only the first {limits.max_decode_bytes} looked at")
    raw = decode(buf, start, end, cte, limits.max_decode_bytes)
    used = out.text_bytes
    if used < limits.max_text_bytes:
        charset = _charset(hdr) or "utf-8"
        if not known_charset(charset):
            out.problem(f"unknown charset {charset[:60]}")
        text = decode_text(raw[: limits.max_text_bytes - used], charset)
        if ctype == "text/html":
            text = strip_tags(text)
        out.body_text.append(text)
        out.text_bytes += min(len(raw), limits.max_text_bytes - used)
    _uu_files(raw, "", depth, limits, out)


def _uu_files(raw: bytes, where: str, depth: int, limits: Limits, out: ParsedMessage) -> None:
    """uuencoded ``begin … end`` blocks in a text become attachments (a mail client shows them so)."""
    if b"begin" not in raw:
        return
    files, more = uu_blocks(raw, 0, len(raw), limits.max_decode_bytes, MAX_UU_FILES)
    if more:
        out.hit(f"more than {MAX_UU_FILES} uuencoded files (or {4 * MAX_UU_FILES} begin lines) in one text part")
    for name, data in files:
        out.clamd_raw = True
        origin = f"uuencoded in {where}" if where else "uuencoded in the text"
        file_attachment(name or "(uuencoded)", data, depth, limits, out, origin)


def file_attachment(name: str, data: bytes, depth: int, limits: Limits, out: ParsedMessage, origin: str) -> None:
    """A file found inside a part (not a part itself): sniffed and looked into like an attachment."""
    budget = out.budget
    assert budget is not None
    true_type = sniff(data[:SNIFF_BYTES])
    report = Report(true_type, macro=macro_by_name(name))
    if true_type in INSPECTED and not budget.out_of_time():
        report = inspect_attachment(data, name, true_type, budget)
        true_type = report.kind
    out.attachments.append(
        Attachment(
            filename=name,
            content_type="application/octet-stream",
            size=len(data),
            true_type=true_type,
            members=tuple(report.members),
            problems=(origin, *report.problems),
            encrypted=report.encrypted,
            macro=report.macro,
            text=report.text,
        )
    )
