"""Macro-enabled Office documents: docm/xlsm/pptm names, vbaProject parts in OOXML, VBA storages in OLE."""

from __future__ import annotations

import zipfile

from monitor.inspect.streams import read_capped, zip_member_pieces
from rules.filenames import extension

MACRO_EXTENSIONS = frozenset({"docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppsm", "ppam", "sldm"})

# Word keeps its VBA project under "Macros", Excel under "_VBA_PROJECT_CUR"; both hold a "VBA" storage.
_OLE_MACRO_STORAGES = ("Macros", "_VBA_PROJECT_CUR", "VBA")
_OLE_DIR_ENTRY = 128
_CONTENT_TYPES_READ = 256 * 1024
_MAX_CANDIDATES = 4096


def macro_by_name(name: str) -> bool:
    return extension(name) in MACRO_EXTENSIONS


def ooxml_macro(zf: zipfile.ZipFile, data: bytes) -> str:
    """Where an OOXML package keeps macros ('' when it has none)."""
    for name in zf.namelist():
        if name.lower().rsplit("/", 1)[-1] == "vbaproject.bin":
            return name
    try:
        info = zf.getinfo("[Content_Types].xml")
        types = read_capped(zip_member_pieces(data, info), _CONTENT_TYPES_READ)[0]
    except MemoryError:
        raise  # the worker's ceiling: its own verdict, and a fresh worker
    except Exception:  # a damaged package: the part name check above is what we have
        return ""
    return "[Content_Types].xml: macroEnabled" if b"macroenabled" in types.lower() else ""


def ole_macro(data: bytes) -> str:
    """The VBA storage of an OLE compound file (.doc/.xls/.ppt), found in its directory entries.

    A directory entry is 128 bytes: the name in UTF-16LE (NUL-terminated), its byte length at
    offset 64 and the entry type at 66 (1 = storage). Entries start on 128-byte boundaries, so a
    scan of the raw bytes finds them without parsing the FAT (which a hostile file may loop).
    """
    for storage in _OLE_MACRO_STORAGES:
        needle = (storage + "\x00").encode("utf-16-le")
        pos = data.find(needle, 512)
        # A hostile file may repeat the name everywhere: look at a bounded number of candidates.
        for _ in range(_MAX_CANDIDATES):
            if pos < 0:
                break
            if pos % _OLE_DIR_ENTRY == 0:
                length = int.from_bytes(data[pos + 64 : pos + 66], "little")
                if length == len(needle) and data[pos + 66] == 1:
                    return storage
            pos = data.find(needle, pos + 2)
    return ""
