"""The hard bounds on inspecting one message, and the running budget that enforces them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Hard bounds on the work one message may cost ([inspection] in config.toml)."""

    max_mime_parts: int = 1000
    max_mime_depth: int = 20
    max_header_bytes: int = 256 * 1024
    # Members listed per attachment, at all depths together.
    max_archive_members: int = 1000
    max_decode_bytes: int = 64 * 2**20
    max_text_bytes: int = 2**20
    # Archives inside archives: depth 1 is a member of the attachment itself.
    max_archive_depth: int = 5
    # Bytes decompressed out of archives, for the whole message.
    max_expanded_bytes: int = 64 * 2**20
    # Expanded/compressed size of one member (Apache POI refuses zip entries past 100×, for the
    # same reason); only members of at least RATIO_FLOOR expanded bytes are judged.
    max_compression_ratio: int = 100
    # Wall-clock seconds for the whole message, checked between steps.
    max_inspection_seconds: float = 10.0
    # Characters of text extracted from attachments, per attachment and per message.
    max_extracted_text_chars: int = 200_000
    # Pages of one PDF read for text.
    max_pdf_pages: int = 50
    # Seconds all PDFs of one message may take to give their text (pypdf has no bound of its own).
    max_pdf_seconds: float = 0.5


# Small members compress far beyond any ratio (a 1 MiB run of spaces); they cost nothing to read.
RATIO_FLOOR = 2**20


class Budget:
    """What one message has left to spend; each limit hit is recorded once in ``hits``."""

    def __init__(self, limits: Limits, hits: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.hits = hits
        self.clock = clock
        self.deadline = clock() + limits.max_inspection_seconds
        self.expanded = 0
        self.text_chars = 0
        self.pdf_seconds = 0.0
        # Set once the expanded-bytes or time budget is gone: every further step is skipped.
        self.exhausted = False

    def hit(self, reason: str) -> None:
        if reason not in self.hits:
            self.hits.append(reason)

    def out_of_time(self) -> bool:
        if not self.exhausted and self.clock() > self.deadline:
            self.hit(f"inspection took longer than {self.limits.max_inspection_seconds:g} s; stopped")
            self.exhausted = True
        return self.exhausted

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def pdf_seconds_left(self) -> float:
        return max(0.0, self.limits.max_pdf_seconds - self.pdf_seconds)

    def room(self) -> int:
        """Expanded bytes still allowed."""
        return max(0, self.limits.max_expanded_bytes - self.expanded)

    def charge(self, n: int) -> bool:
        """Count ``n`` expanded bytes; False (and a limit hit) once the total passes the limit."""
        self.expanded += n
        if self.expanded > self.limits.max_expanded_bytes:
            self.hit(f"archives expand to more than {self.limits.max_expanded_bytes} bytes; stopped")
            self.exhausted = True
            return False
        return True

    def ratio_exceeded(self, expanded: int, packed: int | None) -> bool:
        """True when ``expanded`` bytes from ``packed`` ones is a bomb's ratio."""
        if packed is None or expanded < RATIO_FLOOR:
            return False
        return expanded > self.limits.max_compression_ratio * max(packed, 1)

    def take_text(self, text: str) -> str:
        """``text`` cut to what the per-attachment and per-message text caps still allow."""
        cap = min(self.limits.max_extracted_text_chars, self.limits.max_extracted_text_chars - self.text_chars)
        text = text[: max(0, cap)]
        self.text_chars += len(text)
        return text
