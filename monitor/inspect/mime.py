"""Parse one message into rule facts with a bounded, copy-light MIME walk.

The stdlib parser holds a message about 8× in memory and spends ~0.8 s on a 41 MB one
(docs/libraries.md, "MIME parsing"), and its header parsing is quadratic on headers an attacker
writes. This walker splits and decodes header blocks itself, in linear time
(monitor/inspect/headers.py), gives the stdlib only bounded Content-* fields, and finds parts by
scanning for their boundaries in the raw bytes; part bodies are decoded only where a rule needs
their content (monitor/inspect/leaves.py). A part whose Content-* fields are duplicated with
different values is walked under each reading. Every loop is bounded by ``Limits``; hitting one is
recorded in ``limit_hits`` (a finding, never a crash or a silent pass).
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from monitor.inspect.headers import Field, MimeFields, decode_value, mime_fields, mime_header, split_fields
from monitor.inspect.leaves import leaf
from monitor.inspect.limits import Budget, Limits
from monitor.inspect.parsed import BodyRange, ParsedMessage

__all__ = ["BodyRange", "ParsedMessage", "parse_message", "plain_text_only"]

# Readings of one entity at most: its first Content-* fields, and each conflicting value of them.
MAX_READINGS = 6


def parse_message(
    buf: bytes, limits: Limits, *, depth: int = 0, budget: Budget | None = None, start: int = 0, end: int | None = None
) -> ParsedMessage:
    """Walk the message in ``buf[start:end]``; never raises on malformed input.

    ``budget`` is shared with the messages attached inside this one (one budget per message).
    """
    end = len(buf) if end is None else end
    out = ParsedMessage()
    out.budget = budget if budget is not None else Budget(limits, out.limit_hits)
    if budget is not None:
        out.limit_hits = budget.hits
        out.outermost = False
    head_end, body_start = _split_headers(buf, start, end, limits, out)
    fields, problems = split_fields(buf[start:head_end])
    for problem in problems:
        out.problem(problem)
    out.headers = [(f.name, decode_value(f.raw)) for f in fields]
    out.subject = next((value for name, value in out.headers if name.lower() == "subject"), "")
    _entity(buf, fields, body_start, end, depth, limits, out, "")
    return out


def _nested(buf: bytes, start: int, end: int, depth: int, out: ParsedMessage, limits: Limits) -> ParsedMessage:
    return parse_message(buf, limits, depth=depth, budget=out.budget, start=start, end=end)


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
            out.hit(f"header block over {limits.max_header_bytes} bytes")
            return window, window
        return end, end  # headers only, no body
    i, n = min(candidates)
    return i + n // 2, i + n


def _entity(
    buf: bytes,
    fields: list[Field],
    body_start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
    reading: str,
) -> None:
    """One entity, walked under each reading of its MIME fields (the first values, as most clients
    read them, and each value a duplicated field disagrees with)."""
    mf = mime_fields(fields)
    for why in mf.over_bounds:
        out.hit(why)
    for label, hdr in _readings(mf, out):
        _walk_entity(buf, hdr, body_start, end, depth, limits, out, reading or label)
        if out.parts > limits.max_mime_parts:
            return


def _readings(mf: MimeFields, out: ParsedMessage) -> list[tuple[str, EmailMessage]]:
    first = {name: values[0] for name, values in mf.values.items()}
    readings = [("", mime_header(first))]
    for name, values in mf.values.items():
        distinct = mf.distinct(name)
        if len(distinct) < 2:
            continue
        title = "-".join(w.capitalize() for w in name.split("-"))
        shown = " / ".join(v.decode("ascii", "replace")[:60] for v in distinct)
        out.problem(f"conflicting {title} headers: {shown}")
        out.clamd_raw = True
        seen = {b" ".join(values[0].split()).lower()}
        for i, value in enumerate(values[1:], start=2):
            key = b" ".join(value.split()).lower()
            if key in seen:
                continue
            seen.add(key)
            if len(readings) >= MAX_READINGS:
                out.hit(f"more than {MAX_READINGS} readings of one part's headers")
                return readings
            label = f"{title}: {value.decode('ascii', 'replace').strip()[:60]} (header {i})"
            readings.append((label, mime_header({**first, name: value})))
    return readings


def _walk_entity(
    buf: bytes,
    hdr: EmailMessage,
    body_start: int,
    end: int,
    depth: int,
    limits: Limits,
    out: ParsedMessage,
    reading: str,
) -> None:
    out.parts += 1
    if out.parts > limits.max_mime_parts:
        if out.parts == limits.max_mime_parts + 1:
            out.hit(f"more than {limits.max_mime_parts} MIME parts")
        return
    ctype = _content_type(hdr, out)
    if ctype.startswith("multipart/"):
        try:
            boundary = hdr.get_boundary()
        except Exception:  # the stdlib's parameter parser raises on some malformed values
            boundary = None
        if not boundary:
            out.problem("multipart without a boundary")
            return
        if depth + 1 > limits.max_mime_depth:
            out.hit(f"MIME nesting deeper than {limits.max_mime_depth}")
            return
        most = limits.max_mime_parts - out.parts + 1
        for s, e in _split_multipart(buf, body_start, end, boundary.encode("utf-8", "replace"), out, most):
            head_end, part_body = _split_headers(buf, s, e, limits, out)
            fields, problems = split_fields(buf[s:head_end])
            for problem in problems:
                out.problem(problem)
            _entity(buf, fields, part_body, e, depth + 1, limits, out, reading)
            if out.parts > limits.max_mime_parts:
                return
        return

    def nested(data: bytes, start: int, stop: int, level: int) -> ParsedMessage:
        return _nested(data, start, stop, level, out, limits)

    leaf(buf, hdr, ctype, body_start, end, depth, limits, out, nested, reading)


def _content_type(hdr: EmailMessage, out: ParsedMessage) -> str:
    try:
        return hdr.get_content_type()
    except Exception:
        out.problem("unparsable Content-Type")
        return "application/octet-stream"


def _split_multipart(
    buf: bytes, start: int, end: int, boundary: bytes, out: ParsedMessage, most: int
) -> list[tuple[int, int]]:
    """(start, end) of each body part between the delimiter lines of ``boundary`` (at most ``most``;
    the walk stops at the part limit anyway, so no list of a million parts is ever built)."""
    delim = b"--" + boundary
    parts: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while len(parts) < most:
        i = buf.find(delim, pos, end)
        if i < 0:
            if part_start is not None:
                out.problem("multipart without its closing boundary")
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
    return parts
