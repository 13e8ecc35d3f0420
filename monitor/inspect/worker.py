"""The loop of one evaluation worker process: a memory ceiling, then one job at a time over a pipe.

The process is started (``spawn``) by the filter (monitor/smtp/workers.py), which ends it when a
job outlives its deadline and starts another. Here it sets its own hard limits first: an address
space ceiling (``RLIMIT_AS``), so that no input can make it allocate past that (an allocation
fails with MemoryError, which becomes an inspection-limit verdict), and glibc's mmap threshold.

Messages on the pipe:
    → ("job", settings_version, settings | None, payload, mail_from, rcpt_tos)
       payload: ("bytes", data) or ("file", path)
    ← ("ready", pid) once, then per job ("done", evaluation, stats) or ("error", text, stats);
       stats = (cpu seconds of the job, peak RSS bytes of the job, retire: the process should end).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import resource
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from monitor.inspect.pipeline import Settings, evaluate, limit_evaluation

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
WORKER_NICENESS = 5
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def give_big_buffers_back() -> None:
    """Buffers of 1 MiB and more are mmapped, so freeing them gives the memory back.

    glibc raises its mmap threshold each time a big mmapped buffer is freed; the next big buffers
    then come from the heap and stay there. Measured over the corpus's big and office messages in
    one process: peak RSS 175 -> 124 MB, kept after the last one 122 -> 64 MB.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its own allocator, its own ways
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(M_MMAP_THRESHOLD, 2**20)


def set_memory_ceiling(limit_bytes: int) -> None:
    """No allocation past ``limit_bytes`` of address space in this process (and what it starts: bsdtar)."""
    if limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def _reset_peak() -> bool:
    """Start counting peak RSS anew (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    """VmHWM of this process, bytes."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # bsdtar's share of the work
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def serve(conn: Connection, memory_bytes: int) -> None:
    """The worker process's entry point."""
    give_big_buffers_back()
    set_memory_ceiling(memory_bytes)
    # Below the filter's event loop: on a busy machine the loop (SMTP answers) runs first.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    conn.send(("ready", os.getpid()))
    settings: Settings | None = None
    version = -1
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the filter is gone or closed the pipe
        _, new_version, new_settings, payload, mail_from, rcpt_tos = message
        if new_settings is not None:
            settings, version = new_settings, new_version
        assert settings is not None and version == new_version, "a job came without its settings"
        conn.send(_run(settings, payload, mail_from, tuple(rcpt_tos), memory_bytes))


def _run(settings: Settings, payload: tuple[str, Any], mail_from: str, rcpt_tos: tuple[str, ...], ceiling: int) -> Any:
    exact = _reset_peak()
    cpu = _cpu()
    started = time.perf_counter()
    retire = False
    data = b""
    try:
        data = payload[1] if payload[0] == "bytes" else Path(payload[1]).read_bytes()
        result: Any = ("done", evaluate(data, mail_from, rcpt_tos, settings))
    except MemoryError:
        data = b""
        gc.collect()
        reason = f"inspection needed more than the worker's {ceiling // 2**20} MiB memory ceiling; stopped"
        evaluation = limit_evaluation(reason, mail_from, rcpt_tos, settings)
        result = ("done", evaluation)
        retire = True  # its heap may be left fragmented: a fresh process serves the next message
    except Exception as exc:  # a bug, not the message's fault: the filter answers 451 and records it
        result = ("error", f"{type(exc).__name__}: {exc}"[:300])
    del data
    stats = (_cpu() - cpu, peak_rss() if exact else 0, retire, time.perf_counter() - started)
    return (*result, stats)
