"""A received message body: in memory while small, spilled to a private file when large.

Stock aiosmtpd holds a message about 4× in memory (docs/libraries.md, "SMTP server": 41 MB → ~180 MB RSS). The filter
instead streams DATA into a ``Spool``: the first ``memory_limit`` bytes stay in a ``bytearray``; the
first write that would go past it moves everything to a file created with ``O_EXCL`` and mode 0600
(``tempfile.mkstemp``) in the spool directory, so a message costs at most ``memory_limit`` of RAM.

Writes happen on the event loop. They go to the page cache and are cheap; the expensive part,
``fsync``, happens only in ``to_file`` and ``persist``, which callers may run in a thread.

Ownership: the spool owns its temporary file until ``persist`` moves it elsewhere; ``close`` deletes
an owned file and is idempotent, so ``with Spool(...) as spool:`` is always safe.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from monitor.store.files import (
    SPOOL_PREFIX,  # with SPOOL_SUFFIX: the names the daemon may remove at start
    SPOOL_SUFFIX,
    fsync_dir,
    write_durably,
)

DEFAULT_MEMORY_LIMIT = 2**20
_COPY_CHUNK = 2**20


class Spool:
    """Message content, written once front to back, then read any number of times."""

    def __init__(
        self, directory: Path, memory_limit: int = DEFAULT_MEMORY_LIMIT, *, prefix: str = SPOOL_PREFIX
    ) -> None:
        if memory_limit < 0:
            raise ValueError("memory_limit must be >= 0")
        self.directory = Path(directory)
        self.memory_limit = memory_limit
        self._prefix = prefix
        self._buffer: bytearray | None = bytearray()
        self._file: BinaryIO | None = None  # the writer, while a file is being written
        self._path: Path | None = None
        self._owned = False  # True while ``_path`` is our temporary file and close() must delete it
        self._persisted = False
        self._spilled = False
        self._closed = False
        self._size = 0

    # -- state -------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    @property
    def in_memory(self) -> bool:
        """True while the content has not been spilled to a file."""
        return not self._spilled

    @property
    def path(self) -> Path | None:
        """The file holding the content (our temp file, or the ``persist`` destination), if any."""
        return self._path

    @property
    def closed(self) -> bool:
        return self._closed

    # -- writing -----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``; spill to a file once the total would exceed ``memory_limit``."""
        self._check_writable()
        n = len(data)
        if not n:
            return
        if self._buffer is not None:
            if self._size + n <= self.memory_limit:
                self._buffer += data
                self._size += n
                return
            self._spill()
        assert self._file is not None
        self._file.write(data)
        self._size += n

    def _check_writable(self) -> None:
        if self._closed:
            raise ValueError("spool is closed")
        if self._persisted:
            raise ValueError("spool was persisted; it is read-only now")

    def _spill(self) -> None:
        """Move the in-memory content to a new private file and keep writing there."""
        assert self._buffer is not None
        # mkstemp = O_CREAT|O_EXCL|O_RDWR with mode 0600: no other user can read a message.
        fd, name = tempfile.mkstemp(prefix=self._prefix, suffix=SPOOL_SUFFIX, dir=self.directory)
        self._path = Path(name)
        self._owned = True
        self._file = os.fdopen(fd, "wb")
        try:
            self._file.write(self._buffer)
        except BaseException:
            self.close()
            raise
        self._buffer = None
        self._spilled = True

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    # -- reading -----------------------------------------------------------------------------

    def _check_readable(self) -> None:
        if self._closed:
            raise ValueError("spool is closed")

    def getvalue(self) -> bytes:
        """The whole content as one ``bytes`` (a full copy: avoid on big messages)."""
        self._check_readable()
        if self._buffer is not None:
            return bytes(self._buffer)
        with self.open() as f:
            return f.read()

    def open(self) -> BinaryIO:
        """A new independent reader positioned at offset 0; the caller closes it."""
        self._check_readable()
        if self._buffer is not None:
            return io.BytesIO(self._buffer)
        self._flush()
        assert self._path is not None
        return self._path.open("rb")

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer if the content is shorter)."""
        self._check_readable()
        if self._buffer is not None:
            return bytes(self._buffer[:n])
        with self.open() as f:
            return f.read(n)

    # -- durability --------------------------------------------------------------------------

    def to_file(self) -> Path:
        """Spill now if still in memory, fsync, and return the path of the content file."""
        self._check_readable()
        if self._persisted:
            assert self._path is not None
            return self._path  # persist() already made it durable
        if self._buffer is not None:
            self._spill()
        self._flush()
        assert self._path is not None
        if self._file is not None:
            os.fsync(self._file.fileno())
        else:
            with self._path.open("rb") as f:
                os.fsync(f.fileno())
        return self._path

    def persist(self, dest: Path) -> None:
        """Store the content durably at ``dest`` (fsync file and directory).

        A spilled spool is renamed (same file system) or copied; an in-memory one is written out.
        Afterwards the spool owns no file: ``close`` will not delete ``dest``, and reads (``open``,
        ``getvalue``) keep working from memory or from ``dest``.
        """
        self._check_readable()
        if self._persisted:
            raise ValueError("spool already persisted")
        dest = Path(dest)
        if self._buffer is not None:
            write_durably(dest, [self._buffer])
        else:
            src = self.to_file()
            self._close_writer()
            try:
                src.replace(dest)
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # another file system: copy instead of rename
                    raise
                with src.open("rb") as f:
                    write_durably(dest, iter(lambda: f.read(_COPY_CHUNK), b""))
                src.unlink()
            else:
                fsync_dir(dest.parent)
        self._path = dest
        self._owned = False
        self._persisted = True

    # -- lifetime ----------------------------------------------------------------------------

    def _close_writer(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            f.close()

    def close(self) -> None:
        """Release memory and delete our temp file if we still own it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_writer()
        finally:
            if self._owned and self._path is not None:
                self._path.unlink(missing_ok=True)
            self._owned = False
            self._buffer = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "memory" if self.in_memory else str(self._path)
        return f"<Spool size={self._size} in={where} closed={self._closed}>"


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``directory``."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize
