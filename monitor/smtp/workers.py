"""The worker processes that evaluate messages: a small pool with a hard deadline per message.

Evaluation (MIME walk, archives, documents, rules) is CPU work on hostile input: it runs in
``spawn`` processes (monitor/inspect/worker.py), each with its own memory ceiling, one message at a
time over a pipe. A worker still busy at its deadline is ended (SIGKILL) and a fresh one started,
so no message keeps a worker: ProcessPoolExecutor can only abandon a future, never stop the work.
The round trip to a worker runs in a thread, so neither a big message nor a killed worker ever
blocks the event loop.

A message that outlived, killed or broke a worker raises ``WorkerFailed``; the handler answers 451
the first time and decides it the second (monitor/smtp/handler.py), so a poison message cannot
circle through Postfix's queue.

Small plain-text messages skip the round trip and are evaluated in the event loop: their cost is
bounded by construction (``INLINE_BYTES`` of text, every step linear; the hostile-mail benchmark
measures the slowest shape of input at that size).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from monitor.config import FilterSection
from monitor.inspect.mime import plain_text_only
from monitor.inspect.pipeline import Evaluation, Settings, evaluate
from monitor.inspect.worker import serve
from monitor.smtp.inflight import ByteBudget
from monitor.smtp.spool import Spool

log = logging.getLogger("mailmon.filter")

# Messages up to this size with nothing but a text body are evaluated in the event loop.
INLINE_BYTES = 8 * 1024
# A worker that has not said it is ready after this long (imports) is replaced.
_START_SECONDS = 120.0


class WorkerFailed(Exception):
    """No verdict came back: the worker outlived the deadline, died, or the evaluation failed."""


@dataclass(frozen=True)
class JobStats:
    """What one message cost its worker (what the hostile-mail benchmark reports)."""

    pid: int
    cpu_seconds: float
    peak_rss: int  # bytes; 0 when the kernel would not reset the peak for this job
    seconds: float
    outcome: str  # done | ended (deadline) | died | error | memory | inline


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, context: Any, memory_bytes: int) -> None:
        parent, child = context.Pipe()
        self.proc: SpawnProcess = context.Process(
            target=serve, args=(child, memory_bytes), name="mailmon-worker", daemon=True
        )
        self.proc.start()
        child.close()
        self.pipe: Connection = parent
        self.pid: int = self.proc.pid or 0
        self.settings_version = -1
        self.exitcode: int | None = None  # once ended

    def wait_ready(self) -> None:
        if not self.pipe.poll(_START_SECONDS):
            raise WorkerFailed("worker did not start")
        kind, _ = self.pipe.recv()
        if kind != "ready":
            raise WorkerFailed(f"worker said {kind!r} at start")

    def round_trip(self, job: tuple[Any, ...]) -> Any:
        self.pipe.send(job)
        return self.pipe.recv()

    def cpu_seconds(self) -> float:
        """CPU of the process and its finished children (bsdtar), from /proc."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def peak_rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def end(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.kill()
        for _ in range(3):  # a killed process is reaped at once, unless the machine is very busy
            self.proc.join(timeout=10)
            if self.proc.exitcode is not None:
                break
        self.exitcode = self.proc.exitcode
        with contextlib.suppress(OSError):
            self.pipe.close()
        with contextlib.suppress(ValueError):
            self.proc.close()


class Workers:
    """The evaluation pool of the filter: started lazily, a worker replaced whenever one is ended."""

    def __init__(self, config: FilterSection) -> None:
        self.config = config
        self._context = multiprocessing.get_context("spawn")  # the daemon has threads a fork would copy mid-lock
        self._idle: asyncio.Queue[_Worker] | None = None
        self._live: set[_Worker] = set()
        self._starting = 0
        self._threads = ThreadPoolExecutor(max_workers=2 * config.workers + 4, thread_name_prefix="mailmon-worker")
        self._parsing = ByteBudget(config.parse_bytes_in_flight)
        self._settings: Settings | None = None
        self._settings_version = 0
        self._closing = False
        # The cost of recent messages, newest last (read by the hostile-mail benchmark and the logs).
        self.stats: deque[JobStats] = deque(maxlen=10_000)

    # -- the processes ----------------------------------------------------------------------------
    def _ensure_started(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.config.workers):
                self._spawn()
        return self._idle

    def _spawn(self) -> None:
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        self._starting += 1
        future = loop.run_in_executor(self._threads, self._start_one)
        future.add_done_callback(self._started)

    def _start_one(self) -> _Worker:
        worker = _Worker(self._context, self.config.worker_memory_bytes)
        try:
            worker.wait_ready()
        except BaseException:
            worker.end()
            raise
        return worker

    def _started(self, future: asyncio.Future[_Worker]) -> None:
        self._starting -= 1
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            log.error("a worker process could not start: %s; trying again in 5 s", exc)
            with contextlib.suppress(RuntimeError):  # the loop is closing
                asyncio.get_running_loop().call_later(5, self._spawn)
            return
        worker = future.result()
        if self._closing or self._idle is None:
            worker.end()
            return
        self._live.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self, worker: _Worker) -> None:
        """End ``worker`` (whatever it is doing) and start another in its place."""
        self._live.discard(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.proc.kill()  # at once: the work stops now; reaping it can wait for a thread
        self._threads.submit(worker.end)
        self._spawn()

    def reconfigure(self, config: FilterSection) -> None:
        self.config = config
        self._parsing.limit = config.parse_bytes_in_flight

    def abort(self) -> None:
        """Shutdown: messages still in a worker are answered 451 (not held against the message)."""
        self._closing = True
        for worker in list(self._live):
            with contextlib.suppress(OSError, ValueError):
                worker.proc.kill()

    def close(self) -> None:
        self._closing = True
        for worker in list(self._live):
            worker.end()
        self._live.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def warm_up(self, settings: Settings, message: bytes) -> None:
        """Start every worker process now (imports and all) and give each the settings."""
        idle = self._ensure_started()
        deadline = time.monotonic() + _START_SECONDS
        while len(self._live) < self.config.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        taken = [idle.get_nowait() for _ in range(idle.qsize())]
        try:
            results = await asyncio.gather(
                *(self._job(w, ("bytes", message), "", (), settings, 60.0) for w in taken), return_exceptions=True
            )
            for failure in (r for r in results if isinstance(r, BaseException)):
                log.error("a worker failed its warm-up message: %s", failure)  # replaced already
        finally:
            for worker in taken:
                if worker in self._live:
                    idle.put_nowait(worker)

    # -- one message ------------------------------------------------------------------------------
    async def evaluate(self, spool: Spool, mail_from: str, rcpt_tos: tuple[str, ...], settings: Settings) -> Evaluation:
        if spool.in_memory and spool.size <= INLINE_BYTES:
            data = spool.getvalue()
            if plain_text_only(data, INLINE_BYTES):
                # Most official mail: one short text body. Checked here, in well under a millisecond,
                # it skips the round trip to a worker process.
                started = time.thread_time()
                evaluation = evaluate(data, mail_from, rcpt_tos, settings)
                self.stats.append(JobStats(os.getpid(), time.thread_time() - started, 0, evaluation.seconds, "inline"))
                return evaluation
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.config.scan_timeout_seconds) as scope, self._parsing.hold(spool.size):
            idle = self._ensure_started()
            worker = await idle.get()
            if worker not in self._live:  # ended while idle (shutdown)
                self._failed()
                raise WorkerFailed("worker ended")
            if spool.in_memory:
                payload: tuple[str, Any] = ("bytes", spool.getvalue())
            else:  # flushed and synced to disk: slow I/O, off the event loop
                payload = ("file", str(await loop.run_in_executor(self._threads, spool.to_file)))
            when = scope.when()
            left = (when - loop.time()) if when is not None else self.config.worker_deadline_seconds
            deadline = max(0.0, min(self.config.worker_deadline_seconds, left - 0.05))
            return await self._job(worker, payload, mail_from, rcpt_tos, settings, deadline, requeue=True)

    async def _job(
        self,
        worker: _Worker,
        payload: tuple[str, Any],
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        settings: Settings,
        deadline: float,
        *,
        requeue: bool = False,
    ) -> Evaluation:
        if settings is not self._settings:
            self._settings, self._settings_version = settings, self._settings_version + 1
        version = self._settings_version
        send = settings if worker.settings_version != version else None
        job = ("job", version, send, payload, mail_from, list(rcpt_tos))
        cpu_before = worker.cpu_seconds()
        started = time.monotonic()
        future = asyncio.get_running_loop().run_in_executor(self._threads, worker.round_trip, job)
        # Once the worker is ended the round trip fails (EOFError): expected, and nobody's to read.
        future.add_done_callback(_consume)
        try:
            done, _ = await asyncio.wait({future}, timeout=deadline)
        except asyncio.CancelledError:
            self._replace(worker)  # nobody wants this result: stop the work now
            raise
        if not done:
            self.stats.append(
                JobStats(worker.pid, worker.cpu_seconds() - cpu_before, worker.peak_rss(), deadline, "ended")
            )
            self._replace(worker)
            self._failed()
            raise WorkerFailed(f"inspection still running after {deadline:g} s: its worker process was ended")
        try:
            reply = future.result()
        except (EOFError, OSError) as exc:
            worker.proc.join(timeout=1)
            code = worker.proc.exitcode
            self.stats.append(JobStats(worker.pid, 0.0, 0, time.monotonic() - started, "died"))
            self._replace(worker)
            self._failed()
            raise WorkerFailed(f"the worker process died ({_exit_reason(code)})") from exc
        worker.settings_version = version
        kind, value, (cpu, peak, retire, seconds) = reply
        outcome = "memory" if retire else ("done" if kind == "done" else "error")
        self.stats.append(JobStats(worker.pid, cpu, peak, seconds, outcome))
        if retire:
            self._replace(worker)
        elif requeue and self._idle is not None:
            self._idle.put_nowait(worker)
        if kind == "error":
            raise WorkerFailed(f"inspection failed: {value}")
        assert isinstance(value, Evaluation)
        return value

    def _failed(self) -> None:
        if self._closing:
            raise asyncio.CancelledError  # shutting down: the handler answers 451, nothing is held against it


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
