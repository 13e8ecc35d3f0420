"""What the MIME walk produces for one message: the facts the rules see, and where attachments lie."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from monitor.inspect.limits import Budget
from rules.facts import Attachment


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
    # Decoded bytes of text bodies read so far (max_text_bytes bounds them all together).
    text_bytes: int = 0
    budget: Budget | None = field(default=None, repr=False)
    # Attachment bodies of the outermost message only (offsets into the bytes given to parse_message).
    attachment_ranges: list[BodyRange] = field(default_factory=list)
    outermost: bool = True
    # Content clamd must see through its own mail parser (uuencode, an unknown transfer encoding,
    # several readings of one part): the raw message goes to it whole.
    clamd_raw: bool = False

    def problem(self, text: str) -> None:
        if text not in self.problems and len(self.problems) < 200:
            self.problems.append(text)

    def hit(self, reason: str) -> None:
        assert self.budget is not None
        self.budget.hit(reason)
