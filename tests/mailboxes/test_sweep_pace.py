"""A paced sweep starts at most ``[dovecot] sweep_boxes_per_second`` boxes a second, in order, all of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.config import load_config
from monitor.mailboxes.sweep import BoxStatus, Poller
from tests.conftest import write_config


class Recording(Poller):
    """The real scheduling of poll_all; each box is only noted (with the loop's clock), not read."""

    def __init__(self, config_path: Path) -> None:
        super().__init__(load_config(config_path))
        self.starts: list[tuple[str, float]] = []
        self.in_flight = self.most_in_flight = 0

    async def poll(self, address: str) -> BoxStatus:
        self.starts.append((address, asyncio.get_running_loop().time()))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return BoxStatus(address)


def poller(tmp_path: Path) -> Recording:
    (tmp_path / "secret").write_text("pw\n")
    return Recording(write_config(tmp_path, f'[dovecot]\nmaster_password_file = "{tmp_path / "secret"}"\n'))


def test_the_default_pace_and_the_config_key(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path)).dovecot.sweep_boxes_per_second == 10.0


def test_boxes_start_no_faster_than_the_pace(tmp_path: Path) -> None:
    sweep = poller(tmp_path)
    boxes = [f"u{i}@example.gov.vn" for i in range(12)]
    results = asyncio.run(sweep.poll_all(boxes, concurrency=4, per_second=100))
    assert [r.address for r in results] == boxes
    times = sorted(t for _, t in sweep.starts)
    # The n-th box starts n/100 s after the first at the earliest (asyncio.sleep never wakes early).
    assert all(t - times[0] >= n / 100 - 1e-6 for n, t in enumerate(times))


def test_no_pace_starts_as_many_as_the_concurrency_at_once(tmp_path: Path) -> None:
    sweep = poller(tmp_path)
    boxes = [f"u{i}@example.gov.vn" for i in range(8)]
    asyncio.run(sweep.poll_all(boxes, concurrency=4, per_second=0))
    assert sweep.most_in_flight == 4 and len(sweep.starts) == 8
