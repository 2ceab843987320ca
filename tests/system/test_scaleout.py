"""Scale-out: two ``rigshare run`` processes on one PostgreSQL schema and Redis share the work
behind a load balancer. Telegram webhook updates are split between them (and some are posted
to both at once, as a retrying Telegram or a confused balancer would); the agents long-poll
through the balancer. Exactly one process leads (chain watcher and keeper, PostgreSQL
advisory lock; ``GET /health``); it is SIGKILLed mid-way and the other takes over and mirrors
the rest of the chain. Afterwards: no update was handled twice, no chain event was applied
twice, every credential and receipt reached its renter once, and the database agrees with
the escrow contract and the agents.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import time

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.settings import Settings
from bot.telegram.front import webhook_secret
from core.db import tables
from tests.bot.telegram.fake_telegram import TOKEN
from tests.contracts.anvil import free_port
from tests.support import PG_URL, pg_drop_schema, pg_exec
from tests.system import harness
from tests.system.balancer import Balancer
from tests.system.chain import SystemChain
from tests.system.harness import MODELS, Market
from tests.system.processes import ServiceProcess
from tests.system.quiet import quiesce
from tests.system.renters import StandIn
from tests.waiting import eventually

pytestmark = pytest.mark.system

SEED = 7
MACHINES = 3
RENTERS = MACHINES * len(MODELS)
TWICE = 0.3  # share of updates posted to both processes at once
WEBHOOK = "/telegram/webhook"
DEADLINE_S = 150


class Webhook:
    """Posts updates as Telegram does: JSON with the secret header, retried on a failure."""

    def __init__(self, balancer: Balancer, services: list[ServiceProcess], rng: random.Random):
        self.balancer, self.services, self.rng = balancer, services, rng
        self.ids = itertools.count(1)
        self.twice = 0
        secret = webhook_secret(Settings(_env_file=None, telegram_token=SecretStr(TOKEN)))
        self.headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        self.http: aiohttp.ClientSession | None = None

    async def __call__(self, update: dict) -> None:
        update = {"update_id": next(self.ids), **update}
        if self.rng.random() < TWICE:
            self.twice += 1
            await asyncio.gather(*(self._post(s.url, update, tries=1) for s in self.services))
        await self._post(self.balancer.url, update, tries=20)

    async def _post(self, base: str, update: dict, tries: int) -> bool:
        for _ in range(tries):
            try:
                async with self.http.post(
                    base + WEBHOOK, json=update, headers=self.headers
                ) as resp:
                    if resp.status == 200:
                        return True
            except aiohttp.ClientError:
                pass  # that process is down
            await asyncio.sleep(0.5)
        return False


async def _leaders(services: list[ServiceProcess]) -> list[bool | None]:
    return [
        (h["leader"] if (h := await s.health()) is not None else None) if s.alive else None
        for s in services
    ]


async def test_two_processes_share_the_work_and_survive_the_leader(
    anvil_url, tmp_path, needs_pg_and_redis
):
    rng = random.Random(SEED)
    schema = f"t_scale_{secrets.token_hex(4)}"
    await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
    chain = await SystemChain.deploy(anvil_url, "scale")
    await chain.fund_users(range(1, MACHINES + 2 * RENTERS + 10))
    standin = await StandIn().start()
    ports = [free_port(), free_port()]
    balancer = Balancer([f"http://127.0.0.1:{p}" for p in ports])
    await balancer.start()
    env = harness.service_env(
        chain,
        standin,
        DATABASE_URL=PG_URL,
        DATABASE_SCHEMA=schema,
        REDIS_URL="redis://127.0.0.1:6379/3",
        TELEGRAM_WEBHOOK="true",
    )
    market = await Market.open(tmp_path, chain, env)  # migrates the schema once
    ok = False
    try:
        await market.add_machines(MACHINES)
        a, b = (
            market.service(name, port, PUBLIC_URL=f"https://127.0.0.1:{balancer.port}")
            for name, port in zip("ab", ports, strict=True)
        )
        a.start()
        b.start()
        await asyncio.gather(a.wait_ready(90), b.wait_ready(90))

        async def one_leader() -> list[bool | None] | None:
            leaders = await _leaders([a, b])
            return leaders if leaders.count(True) == 1 else None

        first = await eventually(one_leader, 30, "exactly one leader", every=0.2)
        leader, standby = (a, b) if first[0] else (b, a)

        async def webhook_set() -> bool:
            return str(standin.telegram.webhook.get("url", "")).endswith(WEBHOOK)

        await eventually(webhook_set, 30, "the webhook registered with Telegram", every=0.2)
        market.start_agents(balancer.url)
        await market.price_listings()

        webhook = Webhook(balancer, [a, b], random.Random(rng.random()))
        async with aiohttp.ClientSession() as webhook.http:
            renters = harness.renters(7000, RENTERS, standin, webhook, rng)
            chats = [r.user_id for r in renters]

            async def kill_the_leader() -> float:
                mark = rng.randrange(RENTERS * 2, RENTERS * 4)
                while sum(len(standin.sent(c)) for c in chats) < mark:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

                async def recorded() -> bool:
                    return await market.recorded(standin.delivered_keys(chats))

                async with standin.closed(recorded):  # never between a send and its record
                    leader.kill()
                killed = time.monotonic()
                kill_block.append(await chain.anvil.w3.eth.block_number)

                async def took_over() -> bool:
                    return (await _leaders([standby])) == [True]

                await eventually(took_over, 30, "the standby to take over", every=0.1)
                takeover = time.monotonic() - killed
                leader.start()  # back as a standby
                await leader.wait_ready(90)
                return takeover

            kill_block: list[int] = []
            killer = asyncio.create_task(kill_the_leader())
            await harness.run_staggered(renters, 0.2, DEADLINE_S)
            takeover = await asyncio.wait_for(killer, 120)

        await quiesce(market.db, 60)
        assert await _leaders([leader, standby]) == [False, True]
        await market.assert_consistent(standin, renters)
        # the new leader's watcher mirrored the chain past the kill, up to the head
        kv = tables.settings_kv.c
        async with market.db.read.connect() as conn:
            cursor = await conn.scalar(
                select(kv.value).where(kv.key.endswith(chain.escrow.address.lower()))
            )
        head = await chain.anvil.w3.eth.block_number
        mirrored = json.loads(cursor)["block"]
        assert kill_block[0] < head and mirrored >= head - 1, (kill_block, cursor, head)
        assert webhook.twice >= 5 and all(balancer.served.values())
        assert takeover < 10, takeover
        print(f"takeover in {takeover:.1f} s; {webhook.twice} updates posted twice")
        ok = True
    finally:
        await market.close(failed=not ok)
        await balancer.stop()
        await standin.stop()
        await chain.close()
        await asyncio.to_thread(pg_drop_schema, schema)
