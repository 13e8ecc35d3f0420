"""7z (py7zr), rar (rarfile + bsdtar) and the formats only libarchive reads (bsdtar in a subprocess)."""

from __future__ import annotations

import io
import os
import select
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitor.inspect.archives.stdlib_formats import Entry, Opened, Unreadable, tar_entries
from monitor.inspect.limits import Budget

# The formats handed to bsdtar (Debian's libarchive-tools); the suffix helps its format detection.
BSDTAR_SUFFIX = {"cab": ".cab", "cpio": ".cpio", "iso": ".iso", "rar": ".rar"}
_STDERR_KEEP = 400


class _CappedWriter:
    """A py7zr output that keeps at most ``cap`` bytes in all and refuses more (a bomb stops here)."""

    def __init__(self, owner: _CappedFactory) -> None:
        self.owner = owner
        self.buf = io.BytesIO()

    def write(self, s: bytes | bytearray) -> int:
        self.owner.total += len(s)
        if self.owner.total > self.owner.cap:
            raise Unreadable(f"7z expands past {self.owner.cap} bytes")
        return self.buf.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.buf.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buf.seek(offset, whence)

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return len(self.buf.getbuffer())

    def close(self) -> None:
        pass


class _CappedFactory:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self.products: dict[str, _CappedWriter] = {}

    def create(self, filename: str) -> _CappedWriter:
        writer = _CappedWriter(self)
        self.products[filename] = writer
        return writer


def sevenzip_archive(data: bytes, budget: Budget) -> Opened:
    """A 7z: names from its header; contents decoded in memory only when the declared sizes fit."""
    import py7zr
    from py7zr.exceptions import PasswordRequired

    try:
        sz = py7zr.SevenZipFile(io.BytesIO(data), mode="r")
    except PasswordRequired:
        return Opened("7z", locked=True)
    except MemoryError:
        raise  # the worker's ceiling: its own verdict, and a fresh worker
    except Exception as exc:  # py7zr raises many types on corrupt input
        raise Unreadable(f"corrupt 7z: {type(exc).__name__}: {exc}") from exc
    with sz:
        encrypted = sz.needs_password()
        infos = [i for i in sz.list() if not i.is_directory]
        total = sum(int(i.uncompressed or 0) for i in infos)
        contents: dict[str, bytes] = {}
        if not encrypted and infos:
            if budget.ratio_exceeded(total, len(data)):
                budget.hit(f"7z declares {total} bytes from {len(data)}: a bomb; contents not read")
            elif total > min(budget.room(), budget.limits.max_decode_bytes):
                budget.hit(f"7z declares {total} bytes, over the expanded-bytes budget; contents not read")
            elif unbounded := _unbounded_coders(sz):
                budget.hit(f"7z compressed with {unbounded}, which py7zr decodes without an output cap; not read")
            else:
                factory = _CappedFactory(total)
                try:
                    # py7zr allocates per solid block, so only declared sizes that fit are decoded.
                    sz.extract(factory=factory)  # type: ignore[arg-type]  # duck-typed WriterFactory
                except MemoryError:
                    raise  # the worker's ceiling: its own verdict, and a fresh worker
                except Exception as exc:  # corrupt streams, CRC errors, our own cap
                    raise Unreadable(f"7z contents: {type(exc).__name__}: {exc}") from exc
                finally:
                    budget.charge(factory.total)
                contents = {k: v.buf.getvalue() for k, v in factory.products.items()}
    entries = []
    for info in infos:
        entry = Entry(info.filename, int(info.uncompressed or 0), encrypted, charged=True)
        if info.filename in contents:
            entry.opener = _bytes_opener(contents[info.filename])
        elif not encrypted:
            entry.note = "not decoded"
        entries.append(entry)
    return Opened("7z", iter(entries))


# py7zr passes max_length to every coder, but its Deflate and Deflate64 coders ignore it: one call
# decodes a whole input block (1 MiB) whatever it expands to. The other coders honour it, or are
# filters that never grow their input (BCJ, delta, copy).
_UNBOUNDED_CODERS = {b"\x04\x01\x08": "Deflate", b"\x04\x01\x09": "Deflate64"}


def _unbounded_coders(sz: Any) -> str:
    try:
        folders = sz.header.main_streams.unpackinfo.folders
    except AttributeError:  # no streams: nothing to decode
        return ""
    for folder in folders:
        for coder in folder.coders:
            name = _UNBOUNDED_CODERS.get(bytes(coder.get("method", b"")))
            if name:
                return name
    return ""


def _bytes_opener(data: bytes) -> Any:
    return lambda: io.BytesIO(data)


def rar_archive(data: bytes, budget: Budget) -> Opened:
    """A rar (v4 or v5): names and encryption from rarfile; contents streamed out of bsdtar."""
    import rarfile  # type: ignore[import-untyped]  # no type hints upstream

    try:
        # errors="strict": the default silently returns an empty listing for a damaged archive.
        rf = rarfile.RarFile(io.BytesIO(data), errors="strict")
        infos = [i for i in rf.infolist() if not i.is_dir()]
        locked = bool(rf.needs_password()) and not infos
    except rarfile.PasswordRequired:
        return Opened("rar", locked=True)
    except MemoryError:
        raise  # the worker's ceiling: its own verdict, and a fresh worker
    except Exception as exc:  # rarfile raises its own errors and struct/index errors on junk
        raise Unreadable(f"corrupt rar: {type(exc).__name__}: {exc}") from exc
    if locked:
        return Opened("rar", locked=True)
    if not rf.infolist():
        raise Unreadable("rar with no readable entries")
    return Opened("rar", _rar_entries(data, infos, budget))


def _rar_entries(data: bytes, infos: list[Any], budget: Budget) -> Iterator[Entry]:
    by_name = {str(i.filename): i for i in infos}
    seen: set[str] = set()
    if any(not i.needs_password() for i in infos):
        try:
            for entry in bsdtar_entries(data, "rar", budget):
                info = by_name.get(entry.name)
                if info is None or info.needs_password():
                    continue
                seen.add(entry.name)
                entry.packed = int(info.compress_size)
                yield entry
        except Unreadable:
            # libarchive stops at the first encrypted member; the names below are still listed.
            pass
    for name, info in by_name.items():
        if name in seen:
            continue
        encrypted = bool(info.needs_password())
        note = "" if encrypted or info.is_symlink() else "not extracted by bsdtar"
        yield Entry(name, int(info.file_size), encrypted, int(info.compress_size), note=note)


class _PipeReader(io.RawIOBase):
    """bsdtar's stdout, read with a deadline and a byte cap charged to the budget."""

    def __init__(self, fd: int, budget: Budget, packed: int) -> None:
        self.fd = fd
        self.budget = budget
        self.packed = packed
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        ready, _, _ = select.select([self.fd], [], [], self.budget.seconds_left())
        if not ready:
            self.budget.out_of_time()
            raise Unreadable("bsdtar timed out")
        chunk = os.read(self.fd, min(len(b), 1 << 16))
        n = len(chunk)
        b[:n] = chunk
        self.count += n
        if not self.budget.charge(n):
            raise Unreadable("expanded-bytes budget spent")
        if self.budget.ratio_exceeded(self.count, self.packed):
            self.budget.hit(f"archive expands more than {self.budget.limits.max_compression_ratio}×: a bomb")
            raise Unreadable("compression ratio over the limit")
        return n


def bsdtar_entries(data: bytes, kind: str, budget: Budget) -> Iterator[Entry]:
    """Entries of an archive that bsdtar converts into a pax stream on its stdout.

    No shell and no extraction to disk: the archive is written to a private temp dir, bsdtar
    re-packs it as tar (``-c -f - @archive``), and the stream is read with a deadline and byte cap.
    """
    exe = shutil.which("bsdtar")
    if exe is None:
        raise Unreadable(f"{kind}: bsdtar is not installed (Debian package libarchive-tools)")
    with tempfile.TemporaryDirectory(prefix="mailmon-") as tmp:
        src = Path(tmp) / f"archive{BSDTAR_SUFFIX.get(kind, '')}"
        src.write_bytes(data)
        errpath = Path(tmp) / "stderr"
        with errpath.open("wb") as err:
            proc = subprocess.Popen(
                [exe, "-c", "-f", "-", "--format", "pax", f"@{src}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tmp,
                env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"},
            )
        assert proc.stdout is not None
        try:
            reader = io.BufferedReader(_PipeReader(proc.stdout.fileno(), budget, len(data)))
            yield from tar_entries(reader)
            proc.wait(timeout=max(0.1, min(2.0, budget.seconds_left())))
        except (Unreadable, tarfile.TarError, EOFError, OSError, subprocess.TimeoutExpired) as exc:
            proc.kill()
            proc.wait(timeout=5)
            reason = _first_line(errpath) or str(exc)
            raise Unreadable(f"{kind}: {reason}") from exc
        finally:
            # Also reached when the caller stops early (a limit): never leave bsdtar running.
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
            proc.stdout.close()
        if proc.returncode != 0:
            raise Unreadable(f"{kind}: {_first_line(errpath) or 'bsdtar failed'}")


def _first_line(path: Path) -> str:
    text = path.read_bytes()[:_STDERR_KEEP].decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else ""
