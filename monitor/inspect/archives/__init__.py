"""Recursive, bounded inspection of one attachment: every member's name, true type, encryption, macros, text.

Formats Python reads (zip, tar, gzip/bzip2/xz, arj, 7z, rar listings) are read in memory, member heads
first; only members that are themselves archives or documents are read whole, within the budget.
cab, cpio, iso and rar contents come out of bsdtar as a tar stream (monitor/inspect/archives/external.py).
Whatever cannot be read within the limits is recorded as a limit hit, never passed silently.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.inspect.archives.external import BSDTAR_SUFFIX, bsdtar_entries, rar_archive, sevenzip_archive
from monitor.inspect.archives.stdlib_formats import (
    Entry,
    Opened,
    Unreadable,
    arj_entries,
    decompress_stream,
    gzip_name,
    tar_entries,
    zip_archive,
)
from monitor.inspect.filetypes import sniff
from monitor.inspect.limits import Budget
from monitor.inspect.office import macro_by_name, ole_macro, ooxml_macro
from monitor.inspect.text import pdf_text, zip_document_text
from rules.facts import Member

CONTAINERS = frozenset({"zip", "7z", "rar", "tar", "gzip", "bzip2", "xz", "cab", "arj", "cpio", "iso"})
# Read whole for their macros or text (OOXML and ODF arrive as "zip" and are refined there).
DOCUMENTS = frozenset({"ole", "pdf"})
INSPECTED = CONTAINERS | DOCUMENTS

# Most types show in the first 4 KiB; an ISO 9660 descriptor needs 0x9006 bytes.
HEAD_BYTES = 4096
ISO_HEAD_BYTES = 0x9006
_STREAM_SUFFIXES = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2", ".tbz2", ".tbz"), "xz": (".xz", ".txz")}


@dataclass
class Report:
    """What was found in one attachment."""

    kind: str | None
    members: list[Member] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    encrypted: bool = False
    macro: bool = False
    texts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def inspect_attachment(data: bytes, name: str, true_type: str | None, budget: Budget) -> Report:
    """Look inside one decoded attachment (``true_type`` from its first bytes)."""
    return _Inspector(budget, name).run(data, true_type)


class _Inspector:
    def __init__(self, budget: Budget, name: str) -> None:
        self.budget = budget
        self.limits = budget.limits
        self.name = name
        self.report = Report(None)
        self.listed = 0

    def run(self, data: bytes, true_type: str | None) -> Report:
        if macro_by_name(self.name):
            self.report.macro = True
        kind, locked = self._open(data, self.name, true_type, 0)
        self.report.kind = kind
        self.report.encrypted = self.report.encrypted or locked
        return self.report

    def _where(self, name: str) -> str:
        return self.name if name == self.name else f"{self.name} → {name}"

    def _unreadable(self, name: str, why: str) -> None:
        self.report.problems.append(f"{self._where(name)}: {why}")
        self.budget.hit(f"{self._where(name)}: cannot inspect ({why})")

    def _open(self, data: bytes, name: str, kind: str | None, depth: int) -> tuple[str | None, bool]:
        """Look inside ``data``, a file at ``depth``; its refined kind and whether it is locked."""
        if kind not in INSPECTED or self.budget.out_of_time():
            return kind, False
        if kind in CONTAINERS and depth + 1 > self.limits.max_archive_depth:
            self.budget.hit(f"{self.name}: archives nested deeper than {self.limits.max_archive_depth}")
            return kind, False
        try:
            if kind == "zip":
                return self._zip(data, name, depth), False
            if kind in _STREAM_SUFFIXES:
                return self._stream(data, name, kind, depth), False
            if kind == "ole":
                self.report.macro = self.report.macro or bool(ole_macro(data))
                return kind, False
            if kind == "pdf":
                text, problem = pdf_text(data, self.budget)
                self._add_text(text)
                if problem:
                    self.report.problems.append(f"{self._where(name)}: {problem}")
                return kind, False
            opened = self._opened(data, kind)
            self._walk(opened.entries, depth)
            if opened.locked:
                self.report.encrypted = True
                self.report.problems.append(f"{self._where(name)}: {kind} with encrypted headers; names hidden")
            return opened.kind, opened.locked
        except Unreadable as exc:
            self._unreadable(name, str(exc))
        except MemoryError:
            raise  # the worker's ceiling: its own verdict, and a fresh worker
        except Exception as exc:  # any library failure on hostile input is a finding, not a crash
            self._unreadable(name, f"{type(exc).__name__}: {exc}"[:300])
        return kind, False

    def _opened(self, data: bytes, kind: str) -> Opened:
        if kind == "7z":
            return sevenzip_archive(data, self.budget)
        if kind == "rar":
            return rar_archive(data, self.budget)
        if kind == "tar":
            return Opened("tar", tar_entries(io.BytesIO(data)))
        if kind == "arj":
            return Opened("arj", arj_entries(data))
        assert kind in BSDTAR_SUFFIX
        return Opened(kind, bsdtar_entries(data, kind, self.budget))

    def _zip(self, data: bytes, name: str, depth: int) -> str:
        opened = zip_archive(data, self.budget)
        assert opened.zf is not None
        with opened.zf as zf:
            if opened.kind in ("ooxml", "odf"):
                if opened.kind == "ooxml" and ooxml_macro(zf, opened.data):
                    self.report.macro = True
                self._add_text(zip_document_text(zf, opened.data, opened.kind, self.budget))
                return opened.kind
            self._walk(opened.entries, depth)
        return opened.kind

    def _stream(self, data: bytes, name: str, kind: str, depth: int) -> str:
        """gzip / bzip2 / xz: a compressed tar is listed as a tar, anything else as one member."""
        out = decompress_stream(kind, data, self.budget)
        if sniff(out[:HEAD_BYTES]) == "tar":
            self._walk(tar_entries(io.BytesIO(out)), depth)
            return f"tar+{kind}"
        inner = (gzip_name(data) if kind == "gzip" else None) or _strip_suffix(name, kind)
        self._walk(iter([Entry(inner, len(out), opener=lambda: io.BytesIO(out), charged=True)]), depth)
        return kind

    def _walk(self, entries: Iterator[Entry], depth: int) -> None:
        """Each entry as a member at ``depth + 1``, until a limit stops the walk."""
        try:
            for entry in entries:
                if self.budget.exhausted or self.budget.out_of_time():
                    break
                if self.listed >= self.limits.max_archive_members:
                    self.budget.hit(f"{self.name}: more than {self.limits.max_archive_members} archive members")
                    break
                self._member(entry, depth + 1)
        finally:
            close = getattr(entries, "close", None)
            if close is not None:
                close()  # stops a bsdtar subprocess at once when the walk ends early

    def _member(self, entry: Entry, depth: int) -> None:
        self.listed += 1
        self.report.macro = self.report.macro or macro_by_name(entry.name)
        self.report.encrypted = self.report.encrypted or entry.encrypted
        index = len(self.report.members)
        self.report.members.append(Member(entry.name, entry.size, depth, None, entry.encrypted))
        if entry.opener is None:
            if entry.note:
                self._unreadable(entry.name, entry.note)
            return
        try:
            kind, content = self._read(entry, depth)
        except MemoryError:
            raise  # the worker's ceiling: its own verdict, and a fresh worker
        except Exception as exc:  # corrupt member data (bad CRC, zlib errors): this member only
            self._unreadable(entry.name, f"{type(exc).__name__}: {exc}"[:300])
            return
        locked = False
        if content is not None:
            kind, locked = self._open(content, entry.name, kind, depth)
        self.report.members[index] = Member(entry.name, entry.size, depth, kind, entry.encrypted or locked)

    def _read(self, entry: Entry, depth: int) -> tuple[str | None, bytes | None]:
        """The member's true type, and its whole content when it must be looked into."""
        assert entry.opener is not None
        budget = self.budget
        with entry.opener() as fh:
            head = fh.read(HEAD_BYTES)
            kind = sniff(head)
            if kind is None and entry.size >= ISO_HEAD_BYTES:
                head += fh.read(ISO_HEAD_BYTES - len(head))
                kind = sniff(head)
            if not entry.charged and not budget.charge(len(head)):
                return kind, None
            if kind not in INSPECTED:
                return kind, None
            if kind in CONTAINERS and depth + 1 > self.limits.max_archive_depth:
                budget.hit(f"{self.name}: archives nested deeper than {self.limits.max_archive_depth}")
                return kind, None
            where = self._where(entry.name)
            if budget.ratio_exceeded(entry.size, entry.packed):
                budget.hit(f"{where}: {entry.size} bytes from {entry.packed}: a compression bomb; not opened")
                return kind, None
            cap = min(budget.room(), self.limits.max_decode_bytes)
            if entry.size > cap:
                budget.hit(f"{where}: {entry.size} bytes, over the expanded-bytes budget; not opened")
                return kind, None
            rest = fh.read(cap - len(head) + 1)
        if not entry.charged and not budget.charge(len(rest)):
            return kind, None
        if len(head) + len(rest) > cap:
            budget.hit(f"{where}: expands past its declared {entry.size} bytes; not opened")
            return kind, None
        if budget.ratio_exceeded(len(head) + len(rest), entry.packed):
            budget.hit(f"{where}: a compression bomb; not opened")
            return kind, None
        return kind, head + rest

    def _add_text(self, text: str) -> None:
        text = self.budget.take_text(text.strip())
        if text:
            self.report.texts.append(text)


def _strip_suffix(name: str, kind: str) -> str:
    """The inner file's name from the outer one: ``a.pdf.gz`` → ``a.pdf``, ``b.tgz`` → ``b.tar``."""
    base = name.rsplit("/", 1)[-1]
    for suffix in _STREAM_SUFFIXES[kind]:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)] + (".tar" if suffix.startswith(".t") else "")
    return base
