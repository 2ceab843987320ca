"""Nothing on a rental's path or the agents' heartbeat path blocks the event loop.

The flow runs under asyncio's debug mode, which logs "Executing <handle> took N seconds" for
every step of the loop slower than ``slow_callback_duration``; one such line fails the test.

The threshold is 250 ms. One step here is at most some milliseconds of CPU (rendering, a QR
code, an ORM flush); a 2-core CI machine running several jobs, with debug mode's own checks,
can stretch that several times over, still well below 250 ms. What the rule forbids (a
synchronous HTTP call, ``time.sleep``, NVML or a chain call on the loop, a database driver
without its thread) costs a network round trip or more and crosses it. The first rental warms
up what is built once per process (model classes, compiled statements) before the check.
"""

from __future__ import annotations

import asyncio
import logging

from tests.bot.telegram.support import ALICE, CAROL, Harness, TgUser
from tests.support import heartbeat

SLOW_S = 0.25


async def _rental(tg: Harness, user: TgUser) -> None:
    quote = next(c for c in await tg.send(user, "/rent 4090 1h") if c.chat_id == user.id)
    await tg.press(user, quote, "Confirm")
    await tg.deliver()
    await tg.send(user, "/status")
    await tg.send(user, "/stop")
    await tg.deliver()


async def test_a_rental_and_heartbeats_never_block_the_loop(tg, tg_app, caplog):
    await _rental(tg, ALICE)  # warm-up, unchecked
    loop = asyncio.get_running_loop()
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.slow_callback_duration = SLOW_S
    loop.set_debug(True)
    try:
        await _rental(tg, CAROL)
        for seq, machine_id in enumerate(tg_app.test_machines.values(), start=2):
            gpus = ["h100"] if machine_id == tg_app.test_machines["joe"] else ["rtx4090"]
            await tg_app.agents.heartbeat(machine_id, heartbeat(gpus, seq))
        await tg.deliver()
    finally:
        loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert not slow, slow
    assert len(tg.telegram.sent("sendMessage", CAROL.id)) >= 3  # the flow did run


def test_the_check_sees_a_blocking_call(caplog):
    """The same check, on a loop step that blocks: it must see it."""
    import time

    async def blocking() -> None:
        time.sleep(SLOW_S * 1.5)  # noqa: ASYNC251 - the blocking call it must see

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW_S
        loop.set_debug(True)
        await asyncio.create_task(blocking())

    caplog.set_level(logging.WARNING, logger="asyncio")
    asyncio.run(main())
    assert any("took" in r.getMessage() for r in caplog.records)
