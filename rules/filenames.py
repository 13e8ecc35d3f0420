"""File-name tricks: extensions as Windows sees them, and hidden right-to-left overrides."""

from __future__ import annotations


def _basename(filename: str) -> str:
    # Windows ignores trailing dots and spaces: "virus.exe. " runs as "virus.exe".
    return filename.rstrip(". ").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]


def extension(filename: str) -> str:
    """The last extension, lower case, without the dot ('' when there is none)."""
    stem, dot, ext = _basename(filename).rpartition(".")
    return ext.lower().strip() if dot and stem else ""


def extensions(filename: str) -> list[str]:
    """All extensions, e.g. ``['pdf', 'exe']`` for ``hoa-don.pdf.exe``."""
    parts = _basename(filename).split(".")
    return [p.lower().strip() for p in parts[1:] if p.strip()] if len(parts) > 1 else []


# Bidirectional-text controls used to make "gpj.exe" display as "exe.jpg" (the RTLO trick).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def has_bidi_control(name: str) -> bool:
    return any(ch in BIDI_CONTROLS for ch in name)
