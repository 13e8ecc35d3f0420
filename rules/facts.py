"""The facts a traffic rule sees: envelope, headers and attachments of one message, already parsed.

Rules never parse MIME themselves; monitor/inspect/mime.py builds these facts (in a worker process) and
hands them over. Everything here is plain, frozen data, so a rule test needs no fixture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Addresses in a header value, found in linear time (email.utils.getaddresses recurses into nested
# comments until RecursionError, and the new header parser is quadratic on quotes): the one in
# <angle brackets> of each mailbox, else bare addr-specs. A bare match starts only where a run of
# address characters starts, so a long run without "@" is scanned once, not once per character.
_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]{1,256}@[^<>\s@]{1,256})>")
_BARE_ADDRESS = re.compile(r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]++@[\w-]++(?:\.[\w-]++)++")


def header_addresses(value: str) -> list[str]:
    """The e-mail addresses of a From/To/Resent-From… value, in order."""
    found = _ANGLE_ADDRESS.findall(value)
    return found if found else _BARE_ADDRESS.findall(value)


def domain_of(address: str) -> str:
    """The domain of an address, lower case; '' for the null sender or a bare local part."""
    address = address.strip().strip("<>")
    return address.rpartition("@")[2].lower().rstrip(".") if "@" in address else ""


def in_domains(domain: str, domains: tuple[str, ...]) -> bool:
    """True when ``domain`` is one of ``domains`` or a subdomain of one (``x.gov.vn`` in ``gov.vn``)."""
    domain = domain.lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in domains)


@dataclass(frozen=True)
class Domains:
    """Which domains are this organisation's own, and which belong to state bodies."""

    local: tuple[str, ...]
    government: tuple[str, ...]

    def is_local(self, address: str) -> bool:
        return in_domains(domain_of(address), self.local)

    def is_government(self, address: str) -> bool:
        domain = domain_of(address)
        return bool(domain) and (in_domains(domain, self.government) or in_domains(domain, self.local))

    def direction(self, mail_from: str, rcpt_tos: tuple[str, ...]) -> str:
        """outbound | inbound | internal | relay, from the envelope alone (the JSON of `mailmon scan`)."""
        from_local = self.is_local(mail_from)
        to_local = [self.is_local(r) for r in rcpt_tos]
        if from_local:
            return "internal" if to_local and all(to_local) else "outbound"
        return "inbound" if any(to_local) else "relay"


@dataclass(frozen=True)
class Member:
    """A file found inside an archive (or a message attached to a message), at some depth."""

    name: str
    size: int
    depth: int
    true_type: str | None = None
    encrypted: bool = False


@dataclass(frozen=True)
class Attachment:
    """One leaf MIME part other than the message's own text body."""

    filename: str | None
    content_type: str
    size: int
    true_type: str | None = None
    members: tuple[Member, ...] = ()
    problems: tuple[str, ...] = ()
    # The attachment is, or holds at any depth, a password-protected archive.
    encrypted: bool = False
    # An Office document with a VBA project (docm/xlsm/pptm or vbaProject in OOXML/OLE), at any depth.
    macro: bool = False
    # Bounded extracted text (DOCX, ODT, PDF, plain text) for content rules; "" when none.
    text: str = ""
    # "" for a part as a mail client reads it first; otherwise another way the same part can be read
    # (a second, conflicting Content-Transfer-Encoding or Content-Type, the name= that disagrees with
    # filename=), which every rule checks as well. Sizes count each part once, by its first reading.
    reading: str = ""

    @property
    def display_name(self) -> str:
        name = self.filename or f"({self.content_type})"
        return f"{name} [{self.reading}]" if self.reading else name


@dataclass(frozen=True)
class AntivirusResult:
    """What the virus scanner said about the message (or one part of it)."""

    status: str  # "clean" | "infected" | "unscanned"
    signature: str = ""
    detail: str = ""


@dataclass(frozen=True)
class MessageFacts:
    """Everything a traffic rule may look at for one message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    domains: Domains
    headers: tuple[tuple[str, str], ...] = ()
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = ()
    limit_hits: tuple[str, ...] = ()
    body_text: str = ""
    antivirus: tuple[AntivirusResult, ...] = ()
    _index: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._index.setdefault(name.lower(), []).append(value)

    @property
    def direction(self) -> str:
        return self.domains.direction(self.mail_from, self.rcpt_tos)

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self._index.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))
