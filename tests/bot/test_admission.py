"""Admission control (bot.common.admission): a bounded number of chat updates in flight per
process, the rest waiting in arrival order. The front ends: tests/bot/telegram/test_admission.py,
tests/bot/discord/test_admission.py."""

from __future__ import annotations

import asyncio

import pytest

from bot.common.admission import Admission


async def test_a_slot_is_held_by_at_most_limit_updates_and_the_rest_wait_in_order():
    gate = Admission(2, 10)
    order: list[int] = []
    release = asyncio.Event()

    async def update(i: int) -> None:
        async with gate.slot():
            order.append(i)
            await release.wait()

    tasks = [asyncio.create_task(update(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert (gate.in_flight, gate.waiting, order) == (2, 3, [0, 1])
    release.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4] and (gate.in_flight, gate.waiting) == (0, 0)
    assert gate.peak_in_flight == 2 and gate.peak_waiting == 3 and not gate.full


async def test_the_line_is_full_only_when_every_slot_is_taken_and_the_queue_too():
    gate = Admission(1, 1)
    hold = asyncio.Event()

    async def update() -> None:
        async with gate.slot():
            await hold.wait()

    first = asyncio.create_task(update())
    await asyncio.sleep(0)
    assert not gate.full  # one in flight, nobody waiting
    second = asyncio.create_task(update())
    await asyncio.sleep(0)
    assert gate.full
    hold.set()
    await asyncio.gather(first, second)
    with pytest.raises(ValueError):
        Admission(0, 5)
