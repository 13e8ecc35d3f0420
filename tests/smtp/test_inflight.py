"""The parse byte budget: big messages take turns, small ones never wait behind them."""

from __future__ import annotations

import asyncio

from monitor.smtp.inflight import ByteBudget

MB = 2**20


async def _order(budget: ByteBudget, sizes: list[int]) -> list[str]:
    events: list[str] = []
    gates = [asyncio.Event() for _ in sizes]

    async def parse(i: int, size: int) -> None:
        async with budget.hold(size):
            events.append(f"start {i}")
            await gates[i].wait()
        events.append(f"end {i}")

    tasks = []
    for i, size in enumerate(sizes):
        tasks.append(asyncio.create_task(parse(i, size)))
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    for gate in gates:  # finish them in order of arrival
        gate.set()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    return events


def test_two_big_messages_take_turns_and_small_ones_pass() -> None:
    budget = ByteBudget(48 * MB)
    events = asyncio.run(_order(budget, [34 * MB, 34 * MB, 2 * MB]))
    # The second big one waits for the first; the small one starts at once, beside the first.
    assert events[:2] == ["start 0", "start 2"]
    assert events.index("start 1") > events.index("end 0")
    assert budget.used == 0


def test_a_message_larger_than_the_budget_goes_alone_but_small_mail_never_waits() -> None:
    budget = ByteBudget(8 * MB)
    events = asyncio.run(_order(budget, [40 * MB, 2 * MB, MB // 2]))
    assert events[:2] == ["start 0", "start 2"]
    assert events.index("start 1") > events.index("end 0")
    assert budget.used == 0
