"""The original texts of the regulations, cut into articles, clauses, points, dash items and paragraphs.

The originals sit beside the repository, in ../shared/regulations/ (plain text, one decision each: the
covering decision's articles first, then the attached Quy chế's or Quy định's). The citation test finds
each profile's original by its number, then checks that every clause a profile cites exists there and
says what the profile quotes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

HEADING = re.compile(r"^[ \t*]*Điều[ \t]+(\d+)\b", re.M)
CLAUSE = re.compile(r"^[ \t]*(\d+|l)[ \t]*[.\-][ \t]", re.M)  # "l." is an OCR slip for "1." in one original
POINT = re.compile(r"^[ \t]*([a-zđ])[).][ \t]", re.M)
BULLET = re.compile(r"^[ \t]*-[ \t]", re.M)


def regulations_dir() -> Path:
    """../shared/regulations beside the repository, or the folder MAILMON_REGULATIONS_DIR names."""
    return Path(os.environ.get("MAILMON_REGULATIONS_DIR") or REPO.parent / "shared" / "regulations")


def norm(text: str) -> str:
    """NFC, whitespace collapsed, markdown emphasis and backticks dropped."""
    text = unicodedata.normalize("NFC", text).replace("`", "").replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    """Lower case without diacritics (tone marks are placed differently across the originals)."""
    text = norm(text).replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Original:
    path: Path
    text: str
    decision: dict[int, str]
    regulation: dict[int, str]

    @classmethod
    def read(cls, path: Path) -> Original:
        text = path.read_text("utf-8")
        heads = list(HEADING.finditer(text))
        ones = [i for i, m in enumerate(heads) if m.group(1) == "1"]
        if len(ones) < 2:
            raise ValueError(f"{path.name}: expected the decision's Điều 1 and the attached text's Điều 1")
        decision: dict[int, str] = {}
        regulation: dict[int, str] = {}
        for i, m in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            part = decision if i < ones[1] else regulation
            part.setdefault(int(m.group(1)), text[m.start() : end])
        return cls(path, text, decision, regulation)

    def segment(
        self,
        article: int,
        clause: int | None = None,
        point: str | None = None,
        bullet: int | None = None,
        paragraph: int | None = None,
        occurrence: int | None = None,
        decision: bool = False,
    ) -> str:
        """The text of one article (of the attached text, or of the decision), narrowed to a clause,
        point, dash item or paragraph; LookupError names what does not exist."""
        articles = self.decision if decision else self.regulation
        if article not in articles:
            raise LookupError(f"Điều {article} does not exist{' in the decision' if decision else ''}")
        text = articles[article]
        if clause is not None:
            text = _clause(text, article, clause, occurrence)
        if point is not None:
            text = _point(text, point)
        if paragraph is not None:
            lines = [line for line in text.splitlines()[1:] if line.strip()]
            if paragraph > len(lines):
                raise LookupError(f"Điều {article} has {len(lines)} paragraphs, not {paragraph}")
            text = lines[paragraph - 1]
        if bullet is not None:
            marks = list(BULLET.finditer(text))
            if bullet > len(marks):
                raise LookupError(f"Điều {article}: {len(marks)} dash items, not {bullet}")
            end = marks[bullet].start() if bullet < len(marks) else len(text)
            text = text[marks[bullet - 1].start() : end]
        return text


def _clause(text: str, article: int, clause: int, occurrence: int | None) -> str:
    marks = list(CLAUSE.finditer(text))
    hits = []
    for i, m in enumerate(marks):
        if (1 if m.group(1) == "l" else int(m.group(1))) == clause:
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            hits.append(text[m.start() : end])
    if not hits:
        raise LookupError(f"Điều {article} has no khoản {clause}")
    if occurrence is not None:
        if occurrence > len(hits):
            raise LookupError(f"Điều {article} khoản {clause} is printed {len(hits)} time(s), not {occurrence}")
        return hits[occurrence - 1]
    if len(hits) > 1:
        raise LookupError(f"Điều {article} khoản {clause} is printed {len(hits)} times: the cite needs its occurrence")
    return hits[0]


def _point(text: str, point: str) -> str:
    marks = list(POINT.finditer(text))
    for i, m in enumerate(marks):
        if m.group(1) == point:
            end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
            return text[m.start() : end]
    raise LookupError(f"no điểm {point}")


def quote_in(quote: str, segment: str) -> bool:
    """The quote's pieces ("…" marks a cut) occur in the segment, in order."""
    seg, pos = norm(segment), 0
    for piece in (norm(p) for p in quote.split("…")):
        if not piece:
            continue
        at = seg.find(piece, pos)
        if at < 0:
            return False
        pos = at + len(piece)
    return True


def original_of(number: str, folder: Path) -> Original:
    """The original whose text carries the decision number (spaces and emphasis ignored)."""
    wanted = re.sub(r"[\s*]", "", number)
    found = [p for p in sorted(folder.glob("*.txt")) if wanted in re.sub(r"[\s*]", "", p.read_text("utf-8"))]
    if len(found) != 1:
        raise LookupError(f"{number}: {len(found)} originals carry this number in {folder}")
    return Original.read(found[0])
