"""The filter's worker processes, real ones: a deadline ends the worker and a fresh one takes its
place, a memory ceiling turns a runaway inspection into a verdict, a killed worker is replaced.

The slow and greedy messages are ordinary hostile ones with the limits that would stop them raised
(what an operator's config could do), so that the deadline and the ceiling are what stop them.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.config import FilterSection
from monitor.inspect.limits import Limits
from monitor.inspect.pipeline import Evaluation, Settings
from monitor.smtp.spool import Spool
from monitor.smtp.workers import WorkerFailed, Workers
from rules.facts import Domains
from rules.profile import load_profile
from tests.samples.archive_builders import gzip_bomb
from tests.samples.hostile_builders import RCPT, SENDER, attachment, many_parts, message

SETTINGS = Settings(
    domains=Domains(local=("example.gov.vn",), government=("gov.vn",)), profile=load_profile("dn-2022"), limits=Limits()
)
# 60,000 parts with the part limit lifted: seconds of work for a worker.
SLOW = replace(SETTINGS, limits=Limits(max_mime_parts=10**6, max_inspection_seconds=600))
# A 1 GiB gzip with every expansion limit lifted: it would decompress all of it.
GREEDY = replace(
    SETTINGS,
    limits=Limits(max_expanded_bytes=2**31, max_decode_bytes=2**31, max_compression_ratio=10**9),
)
CLEAN = message(b"Kinh gui phong, xin gui lich hop.\r\n" * 400)  # too long for the inline path


def spool_of(tmp_path: Path, raw: bytes) -> Spool:
    spool = Spool(tmp_path, memory_limit=2**20)
    spool.write(raw)
    return spool


async def evaluate(workers: Workers, tmp_path: Path, raw: bytes, settings: Settings) -> Evaluation:
    spool = spool_of(tmp_path, raw)
    try:
        return await workers.evaluate(spool, SENDER, (RCPT,), settings)
    finally:
        spool.close()


def test_a_worker_past_its_deadline_is_ended_and_a_fresh_one_serves_the_next(tmp_path: Path) -> None:
    async def scenario() -> None:
        workers = Workers(FilterSection(workers=1, worker_deadline_seconds=0.5))
        try:
            first = await evaluate(workers, tmp_path, CLEAN, SETTINGS)
            assert first.verdict.action.name == "PASS"
            (worker,) = workers._live
            with pytest.raises(WorkerFailed, match="its worker process was ended"):
                await evaluate(workers, tmp_path, many_parts(60_000), SLOW)
            assert workers.stats[-1].outcome == "ended"
            after = await evaluate(workers, tmp_path, CLEAN, SETTINGS)
            assert after.verdict.action.name == "PASS"
            for _ in range(600):  # killed at once; reaped by a thread, maybe not yet (a loaded machine)
                if worker.exitcode is not None:
                    break
                await asyncio.sleep(0.05)
            assert worker.exitcode == -signal.SIGKILL
            (fresh,) = workers._live
            assert fresh.pid != worker.pid
        finally:
            workers.close()

    asyncio.run(scenario())


def test_the_memory_ceiling_turns_a_runaway_inspection_into_a_verdict(tmp_path: Path) -> None:
    async def scenario() -> None:
        workers = Workers(FilterSection(workers=1, worker_memory_bytes=256 * 2**20, worker_deadline_seconds=120))
        try:
            evaluation = await evaluate(workers, tmp_path, attachment("a.gz", gzip_bomb(2**30)), GREEDY)
            assert [f.rule for f in evaluation.findings] == ["inspection-limit"]
            assert "256 MiB memory ceiling" in evaluation.findings[0].detail
            assert evaluation.verdict.action.name == "QUARANTINE"
            assert workers.stats[-1].outcome == "memory"
            # The worker that hit its ceiling is retired; the next message has a fresh one.
            after = await evaluate(workers, tmp_path, CLEAN, SETTINGS)
            assert after.verdict.action.name == "PASS"
        finally:
            workers.close()

    asyncio.run(scenario())


def test_a_worker_killed_mid_message_is_replaced(tmp_path: Path) -> None:
    async def scenario() -> None:
        workers = Workers(FilterSection(workers=1, worker_deadline_seconds=120))
        try:
            await evaluate(workers, tmp_path, CLEAN, SETTINGS)
            (worker,) = workers._live
            slow = asyncio.create_task(evaluate(workers, tmp_path, many_parts(60_000), SLOW))
            await asyncio.sleep(0.5)
            os.kill(worker.pid, signal.SIGKILL)
            with pytest.raises(WorkerFailed, match=r"died \(signal SIGKILL\)"):
                await slow
            after = await evaluate(workers, tmp_path, CLEAN, SETTINGS)
            assert after.verdict.action.name == "PASS"
            assert worker not in workers._live
        finally:
            workers.close()

    asyncio.run(scenario())
