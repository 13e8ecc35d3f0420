"""The filter run in this process (its event loop probed for stalls), a sink, and a client process."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from monitor.config import load_config  # noqa: E402
from monitor.smtp.handler import FilterHandler  # noqa: E402
from monitor.smtp.server import FilterSMTP  # noqa: E402
from monitor.smtp.workers import JobStats  # noqa: E402
from monitor.store import AsyncStore  # noqa: E402

PY = sys.executable
WARMUP = b"From: a@example.gov.vn\r\nTo: b@example.gov.vn\r\nSubject: warm\r\n\r\nwarm up\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(work: Path, filter_port: int, sink_port: int) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    path = work / "config.toml"
    path.write_text(
        f"""[organization]
local_domains = ["example.gov.vn"]
government_domains = ["gov.vn"]
[storage]
database = "{work / "mailmon.sqlite3"}"
spool_dir = "{work / "spool"}"
quarantine_dir = "{work / "quarantine"}"
[filter]
listen = "127.0.0.1:{filter_port}"
reinject = "127.0.0.1:{sink_port}"
workers = 2
[ratelimit]
enabled = false
""",
        encoding="utf-8",
    )
    for d in ("spool", "quarantine"):
        (work / d).mkdir(mode=0o700, exist_ok=True)
    return path


class LagProbe:
    """Sleeps 1 ms at a time in the event loop and records how late each wake-up is."""

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []  # (wall time at wake-up, lateness seconds) over 2 ms
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.001)
            late = loop.time() - before - 0.001
            if late > 0.002:
                self.stalls.append((time.time(), late))
            self.worst = max(self.worst, late)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def worst_between(self, start: float, end: float) -> float:
        return max((late for at, late in self.stalls if start <= at <= end + 0.001), default=0.0)


@dataclass
class FilterRun:
    port: int
    handler: FilterHandler
    store: AsyncStore
    server: asyncio.AbstractServer
    probe: LagProbe
    config: Path
    sink: subprocess.Popen[bytes]
    stats: list[JobStats] = field(default_factory=list)


async def start_filter(work: Path) -> FilterRun:
    port, sink_port = free_port(), free_port()
    sink = subprocess.Popen([PY, str(REPO / "bench" / "servers.py"), "sink", str(sink_port)])
    config_path = write_config(work, port, sink_port)
    config = load_config(config_path)
    store = AsyncStore(config.storage.database)
    await store.open()
    handler = FilterHandler(config, store)
    await handler.workers.warm_up(handler.settings, WARMUP)
    handler.workers.stats.clear()
    gc.freeze()  # as the daemon does once it is up

    def protocol() -> FilterSMTP:
        return FilterSMTP(
            handler,
            spool_dir=config.storage.spool_dir,
            spool_memory_limit=config.filter.spool_memory_bytes,
            data_size_limit=config.filter.max_message_bytes,
            hostname="mailmon.bench",
            ident="mailmon",
            enable_SMTPUTF8=True,
        )

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", port)
    probe = LagProbe()
    probe.start()
    for _ in range(200):  # the sink answers
        try:
            socket.create_connection(("127.0.0.1", sink_port), 1).close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    return FilterRun(port, handler, store, server, probe, config_path, sink)


async def stop_filter(run: FilterRun) -> None:
    run.probe.stop()
    run.server.close()
    run.handler.close()
    await run.store.close()
    run.sink.terminate()
    run.sink.wait(10)


async def send(
    run: FilterRun, work: Path, items: list[tuple[str, bytes]], connections: int, tag: str
) -> dict[str, Any]:
    """Send ``items`` (name, raw) from a client process; its results (the loop keeps serving meanwhile)."""
    folder = work / tag
    folder.mkdir(exist_ok=True)
    manifest = []
    for i, (name, raw) in enumerate(items):
        path = folder / f"{i:05d}.eml"
        path.write_bytes(raw)
        manifest.append({"name": name, "file": str(path)})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = folder / "results.json"
    proc = await asyncio.create_subprocess_exec(
        PY, str(HERE / "client.py"), str(run.port), str(folder / "manifest.json"), str(out), str(connections)
    )
    await proc.wait()
    result: dict[str, Any] = json.loads(out.read_text())
    for path in folder.glob("*.eml"):
        path.unlink()
    return result


# Started from a small process: a child's peak RSS counts the pages of the process that forked it,
# and this one holds every hostile message in memory.
_MEASURE = """
import json, resource, subprocess, sys
out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
u = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(json.dumps([u.ru_utime + u.ru_stime, u.ru_maxrss * 1024, out.decode("utf-8", "replace")]))
"""


def rusage_of(argv: list[str]) -> tuple[float, int, float, bytes]:
    """(CPU seconds, peak RSS bytes, wall seconds, stdout) of one command run to its end."""
    started = time.perf_counter()
    done = subprocess.run([PY, "-c", _MEASURE, *argv], stdout=subprocess.PIPE, cwd=REPO, check=True)
    cpu, rss, out = json.loads(done.stdout)
    return float(cpu), int(rss), time.perf_counter() - started, out.encode()
