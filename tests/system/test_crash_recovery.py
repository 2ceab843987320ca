"""Crash recovery: the service process is SIGKILLed at random points while 20 rentals are in
flight, and restarted each time. Afterwards every rental agrees with the escrow contract (money
conserved to the micro-USDC), every credential, private key and receipt reached its renter
exactly once, no Telegram update was handled twice (the ones a killed process had fetched
come again after the restart), and each agent's installed keys are exactly those of the
active rentals.

One ``rigshare run --no-terminal`` process on a SQLite file, anvil as the chain (it outlives the
process), five real ``rigshare-agent`` processes with four simulated GPUs each, and twenty
renters in Telegram, long-polling the Bot API stand-in. The kill points are drawn from a seeded
generator: after a number of messages the renters have received (so every phase of a rental is
hit: quotes, payment, provisioning, credentials, stops, receipts) plus a random delay, and
once while the restarted process is still starting up. Each kill happens while the Bot API
stand-in holds its calls (``StandIn.closed``), so it never falls between Telegram accepting a
message and the commit that records it as sent: no chat API lets a sender close that window.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import pytest

from tests.contracts.anvil import free_port
from tests.system import harness
from tests.system.chain import SystemChain
from tests.system.harness import Market
from tests.system.processes import ServiceProcess
from tests.system.quiet import quiesce
from tests.system.renters import StandIn

pytestmark = pytest.mark.system

SEED = 20261121
RENTERS = 20
MACHINES = 5
KILLS = 5  # at message counts; one more while a restarted process starts up
DEADLINE_S = 150


async def _kill_at_random_points(
    market: Market, service: ServiceProcess, standin: StandIn, chats: list[int], rng: random.Random
) -> list[str]:
    """SIGKILL and restart the service at seeded points; returns what was done, for the
    failure report."""
    expected = RENTERS * 8  # messages a renter receives in a quiet run, roughly
    marks = sorted(rng.sample(range(6, expected - 20), KILLS))
    startup_kill = rng.randrange(1, KILLS)  # which restart gets killed again while starting
    done = []

    def received() -> int:
        return sum(len(standin.sent(chat)) for chat in chats)

    async def recorded() -> bool:
        return await market.recorded(standin.delivered_keys(chats))

    for i, mark in enumerate(marks):
        while received() < mark:  # noqa: ASYNC110 - the stand-in is polled, not awaited
            await asyncio.sleep(0.05)
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        async with standin.closed(recorded):
            service.kill()
        done.append(f"kill {i + 1} after {received()} messages at {time.monotonic():.1f}")
        service.start()
        if i == startup_kill:
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            async with standin.closed(recorded):
                service.kill()
            done.append("kill while starting up")
            service.start()
        started = time.monotonic()
        await service.wait_ready(60)
        done.append(f"ready in {time.monotonic() - started:.1f} s")
    return done


async def test_sigkill_at_random_points_loses_and_repeats_nothing(anvil_url, tmp_path):
    rng = random.Random(SEED)
    chain = await SystemChain.deploy(anvil_url, "crash")
    await chain.fund_users(range(1, MACHINES + 2 * RENTERS + 10))
    standin = await StandIn().start()
    env = harness.service_env(
        chain,
        standin,
        DATABASE_URL=f"sqlite:///{tmp_path}/rigshare.sqlite3",
        TELEGRAM_POLLING_TIMEOUT_S="2",
        LOG_LEVEL="INFO",
    )
    market = await Market.open(tmp_path, chain, env)
    ok = False
    try:
        await market.add_machines(MACHINES)
        service = market.service("service", free_port())
        service.start()
        await service.wait_ready(90)
        market.start_agents(service.url)
        await market.price_listings()

        async def post(update: dict) -> None:
            standin.telegram.push_update(update)

        renters = harness.renters(5000, RENTERS, standin, post, rng)
        chats = [r.user_id for r in renters]
        killer = asyncio.create_task(
            _kill_at_random_points(market, service, standin, chats, random.Random(rng.random()))
        )
        t0 = time.monotonic()
        await harness.run_staggered(renters, 0.3, DEADLINE_S)
        t1 = time.monotonic()
        kills = await asyncio.wait_for(killer, 60)
        await service.wait_ready(60)
        await quiesce(market.db, 60)
        print(f"rentals {t1 - t0:.1f} s, quiet after {time.monotonic() - t1:.1f} s; {kills}")
        print("retries:", sum((r.retries for r in renters), Counter()))

        await market.assert_consistent(standin, renters)
        assert sum(k.startswith("kill") for k in kills) == KILLS + 1, kills
        assert service.starts == KILLS + 2
        ok = True
    finally:
        await market.close(failed=not ok)
        await standin.stop()
        await chain.close()
