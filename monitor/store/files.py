"""mailmon's files are private whatever the umask of whoever starts it: 0700 directories, 0600 files.

Messages, the quarantine and the database hold people's mail and findings about them. ``mkdir``
and SQLite create with the caller's umask (``umask 000`` gives 0777 directories and a 0666
database), and ``Path.mkdir(parents=True)`` ignores ``mode`` for the parents it creates; so every
directory mailmon creates goes through ``private_dir``, every command starts under ``umask 077``
(``private_umask``), and the database's files are set to 0600 when it is opened.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

SPOOL_PREFIX = "msg-"
SPOOL_SUFFIX = ".eml"
WRITE_TMP_PREFIX = ".tmp-"  # ``write_durably``'s temp file, until it is renamed over its destination


def private_umask() -> None:
    """Files and directories this process creates are for its own user only, from now on."""
    os.umask(0o077)


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parent as 0700 directories; an existing one is left as it is."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        directory.chmod(0o700)  # mkdir's mode is masked by the umask; chmod is not
    return path


def private_file(path: Path) -> None:
    """Make an existing file of ours 0600 (a database created before, under another umask)."""
    if path.exists() and stat.S_IMODE(path.stat().st_mode) != 0o600:
        path.chmod(0o600)


def remove_own_files(directory: Path, prefix: str, suffix: str = "") -> int:
    """Delete the files named ``prefix*suffix`` in ``directory`` that are regular files of this user,
    and nothing else (a symlink, a directory, another user's file stay); how many went. A missing
    directory has none."""
    try:
        candidates = [p for p in directory.iterdir() if p.name.startswith(prefix) and p.name.endswith(suffix)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for path in candidates:
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def remove_spool_leftovers(spool_dir: Path) -> int:
    """Delete the message files a crash left in the spool (``msg-*.eml``), and nothing else there."""
    return remove_own_files(spool_dir, SPOOL_PREFIX, SPOOL_SUFFIX)


def remove_interrupted_writes(directory: Path) -> int:
    """Delete what a kill left of ``write_durably`` in ``directory``: its temp files (``.tmp-*``), never
    renamed, so never part of what was written."""
    return remove_own_files(directory, WRITE_TMP_PREFIX)


def fsync_dir(directory: Path) -> None:
    """Make a rename or create inside ``directory`` durable (the entry lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(dest: Path, chunks: Iterable[bytes | bytearray]) -> None:
    """Write ``chunks`` to a 0600 temp file next to ``dest``, fsync, rename over it, fsync the dir:
    ``dest`` is either whole on disk or absent, and no temp file is left behind on an error."""
    fd, name = tempfile.mkstemp(prefix=WRITE_TMP_PREFIX, dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)
