"""List what an archive holds (names, sizes, true types, encryption) without extracting it."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from monitor.filetypes import sniff
from rules.facts import Member

# Read this much of each member to learn its true type (bounded: decompression stops there).
MEMBER_HEAD = 4096


@dataclass
class Listing:
    kind: str
    members: list[Member] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    limit_hits: list[str] = field(default_factory=list)


def list_zip(data: bytes, *, depth: int, max_members: int) -> Listing:
    """Members of a zip from its central directory; Office and Java files are recognised."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        return Listing("zip", problems=[f"corrupt zip: {exc}"])
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        if "[Content_Types].xml" in names:
            return Listing("ooxml")
        if "mimetype" in names and any(n == "content.xml" for n in names):
            return Listing("odf")
        kind = "jar" if "META-INF/MANIFEST.MF" in names else "zip"
        listing = Listing(kind)
        if len(infos) > max_members:
            listing.limit_hits.append(f"zip with {len(infos)} members, over {max_members}")
            infos = infos[:max_members]
        for info in infos:
            if info.is_dir():
                continue
            encrypted = bool(info.flag_bits & 0x1)
            true_type = None if encrypted else _member_type(zf, info, listing)
            listing.members.append(Member(info.filename, info.file_size, depth, true_type, encrypted))
        return listing


def _member_type(zf: zipfile.ZipFile, info: zipfile.ZipInfo, listing: Listing) -> str | None:
    try:
        with zf.open(info) as fh:
            return sniff(fh.read(MEMBER_HEAD))
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        listing.problems.append(f"{info.filename}: unreadable ({exc})")
        return None
    except Exception as exc:  # zlib.error and friends from corrupt data
        listing.problems.append(f"{info.filename}: unreadable ({type(exc).__name__})")
        return None
