"""`mailmon run`'s service with the filter and no schedule, sweeping every mailbox on SIGUSR1 (for
bench/filter_during_sweep.py).

    python bench/sweep_service.py CONFIG MARKER

The sweep runs exactly as the scheduler would run it (the service's own sweep job); when it ends,
MARKER gets its duration in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import monitor
from monitor.config import load_config
from monitor.service.daemon import Daemon


def sweep_job(daemon: Any) -> Any:
    """The service's sweep job (an older service kept it as a method of the daemon)."""
    jobs = getattr(daemon, "jobs", None)
    return jobs.sweep if hasattr(jobs, "sweep") else daemon._sweep


async def main(config_path: Path, marker: Path) -> int:
    daemon = Daemon(config_path, load_config(config_path), jobs=False)
    running: list[asyncio.Task[None]] = []

    async def sweep() -> None:
        started = time.perf_counter()
        await sweep_job(daemon)()
        marker.write_text(f"{time.perf_counter() - started:.2f} s, {daemon.status()}\n")

    def on_usr1() -> None:
        running.append(asyncio.ensure_future(sweep()))

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, on_usr1)
    return await daemon.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mailmon").info("mailmon from %s", Path(monitor.__file__).parent)
    sys.exit(asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]))))
