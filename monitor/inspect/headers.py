"""Header blocks split, decoded and bounded in linear time, before the stdlib parser sees any of them.

The stdlib's header parsing is quadratic on inputs an attacker can write: 32 KB of ``;`` in a
Content-Type took 37 s in ``get_content_type``/``get_param`` (``_parseparam`` copies the rest of
the value once per parameter), 32 KB of ``"a`` in a From header 6 s in ``policy.default``'s address
parser, and nested comments end in a RecursionError. So every field is split and decoded here,
linearly: RFC 2047 encoded-words with a bounded pattern, charsets through a codec allow-list. Only
the MIME fields a walk needs structured (Content-Type, Content-Disposition, Content-Transfer-
Encoding) go to the stdlib, and only within ``MIME_FIELD_BOUNDS``; a field past them is not parsed
and the caller records a limit hit (a part whose structure cannot be read is not vouched for).
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser

_PARSER = BytesHeaderParser(policy=policy.default)

# The fields the MIME walk reads structured; everything else is only decoded to text.
MIME_FIELDS = ("content-type", "content-disposition", "content-transfer-encoding")


@dataclass(frozen=True)
class MimeFieldBounds:
    """What the stdlib may be given of one MIME field: measured, at these bounds a field parses in < 2 ms."""

    max_bytes: int = 8192
    # ``;`` separates parameters: _parseparam costs (parameters × length).
    max_semicolons: int = 64
    # Quotes make _parseparam count quotes from the start for every ``;`` inside them.
    max_quotes: int = 128
    # Values of one MIME field kept (a duplicated field is read every way, so each costs a reading).
    max_repeats: int = 4


MIME_FIELD_BOUNDS = MimeFieldBounds()


@dataclass(frozen=True)
class Field:
    name: str  # as written
    raw: bytes  # the value, folding kept, without the final line end


def split_fields(block: bytes) -> tuple[list[Field], list[str]]:
    """The fields of a header block, and the problems of lines that are not fields (linear)."""
    fields: list[Field] = []
    problems: list[str] = []
    name = ""
    parts: list[bytes] = []
    for line in block.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line[:1] in (b" ", b"\t"):
            if parts:
                parts.append(line)
            continue
        if parts:
            fields.append(Field(name, b"\r\n".join(parts)))
            parts = []
        if not line:
            continue
        colon = line.find(b":")
        if colon <= 0:
            if len(problems) < 10:
                problems.append("header line without a field name")
            continue
        name = line[:colon].strip().decode("ascii", "replace")
        parts = [line[colon + 1 :]]
    if parts:
        fields.append(Field(name, b"\r\n".join(parts)))
    return fields, problems


# Codecs that are not charsets mail may name, or whose decoders are quadratic (punycode: 40 KB in
# 0.24 s, 1 MB in minutes; idna runs punycode per label).
_REFUSED_CODECS = frozenset({"punycode", "idna"})


def text_codec(charset: str | None) -> str:
    """The codec to decode text declared in ``charset``: a known text encoding, else UTF-8."""
    if not charset:
        return "utf-8"
    try:
        info = codecs.lookup(charset.strip().strip('"')[:64])
    except (LookupError, ValueError):
        return "utf-8"
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return "utf-8"
    return info.name


def known_charset(charset: str) -> bool:
    try:
        codecs.lookup(charset.strip().strip('"')[:64])
    except (LookupError, ValueError):
        return False
    return True


def decode_text(raw: bytes, charset: str | None) -> str:
    return raw.decode(text_codec(charset), "replace")


# RFC 2047: =?charset?Q|B?text?=. The text cannot hold "?" or white space, so a failed attempt
# stops at the next "?" and the scan stays linear; the bounds keep one attempt short anyway.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([qQbB])\?([^?\s]{0,2000})\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t]++(?==\?)")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def decode_value(raw: bytes) -> str:
    """A field value as text: unfolded, raw UTF-8 read as such, encoded-words decoded."""
    text = _FOLD.sub(b"", raw).decode("utf-8", "replace").strip()
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub("", text)
    return _ENCODED_WORD.sub(_decode_word, text)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
    charset = charset.split("*", 1)[0]  # RFC 2231 language: =?utf-8*vi?...
    data = payload.encode("ascii", "replace")
    try:
        if encoding == "q":
            decoded = binascii.a2b_qp(data.replace(b"_", b" "), header=True)
        else:
            decoded = binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return match.group(0)
    return decoded.decode(text_codec(charset), "replace")


@dataclass
class MimeFields:
    """The MIME fields of one entity: every value as written, and what could not be parsed."""

    values: dict[str, list[bytes]]
    over_bounds: list[str]

    def distinct(self, name: str) -> list[bytes]:
        seen: dict[bytes, None] = {}
        for value in self.values.get(name, ()):
            seen.setdefault(b" ".join(value.split()).lower(), None)
        return list(seen)


def mime_fields(fields: list[Field], bounds: MimeFieldBounds = MIME_FIELD_BOUNDS) -> MimeFields:
    """The Content-* fields of an entity, each checked against ``bounds`` before any parser sees it."""
    values: dict[str, list[bytes]] = {}
    over: list[str] = []
    for field in fields:
        key = field.name.lower()
        if key not in MIME_FIELDS:
            continue
        raw = field.raw
        why = _over_bounds(raw, bounds)
        if why:
            over.append(f"{field.name} header {why}; not parsed")
            continue
        kept = values.setdefault(key, [])
        if len(kept) >= bounds.max_repeats:
            over.append(f"{field.name} header repeated more than {bounds.max_repeats} times")
            continue
        kept.append(raw)
    return MimeFields(values, over)


def _over_bounds(raw: bytes, bounds: MimeFieldBounds) -> str:
    if len(raw) > bounds.max_bytes:
        return f"of {len(raw)} bytes (over {bounds.max_bytes})"
    if raw.count(b";") > bounds.max_semicolons:
        return f"with more than {bounds.max_semicolons} parameters"
    if raw.count(b'"') > bounds.max_quotes:
        return f"with more than {bounds.max_quotes} quotes"
    return ""


def mime_header(chosen: dict[str, bytes]) -> EmailMessage:
    """An EmailMessage holding only the chosen (bounded) MIME fields, for the stdlib's structured reading."""
    block = b"".join(
        name.encode("ascii") + b":" + value + b"\r\n" for name, value in chosen.items() if name in MIME_FIELDS
    )
    try:
        msg = _PARSER.parsebytes(block + b"\r\n")
    except Exception:  # bounded input, lenient parser: never seen, but a reading must not stop the walk
        return EmailMessage(policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
