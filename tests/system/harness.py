"""The whole system on one machine: anvil, a database, service processes, provider agents.

``Market.open`` deploys a fresh escrow, onboards the providers through the core services (a
provider's registration is not what these tests are about), starts one real
``rigshare-agent`` per machine against the service processes, and prices the listings once
the agents have reported their GPUs. The service processes come and go; the chain, the
database and the agents outlive them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from bot.bootstrap import App, build_app
from bot.settings import Settings
from core.db import tables
from core.db.engine import Database, create_database
from core.domain.listings import ListingStatus
from tests.bot.telegram.fake_telegram import TOKEN
from tests.support import register_provider
from tests.system.chain import SystemChain
from tests.system.processes import AgentProcess, ServiceProcess
from tests.system.reconcile import handled_once, reconcile
from tests.system.renters import Renter, StandIn
from tests.waiting import eventually

PRICE = 400_000  # $0.40 per GPU-hour
GPUS = "4090,h100,a100,l40s"  # one listing per model: four rentals per machine at once
MODELS = ("rtx4090", "h100", "a100-80gb", "l40s")
# one region per machine: a renter asking for a model in a region has exactly one offer, so
# every quote row comes from one /rent (a double-handled update would show as a second row)
REGIONS = ("eu", "us", "asia", "oce", "af")


@dataclass
class Machine:
    provider: str
    region: str
    machine_id: int
    token: str
    agent: AgentProcess | None = None


@dataclass
class Market:
    tmp: Path
    chain: SystemChain
    env: dict[str, str]  # settings shared by every service process
    db: Database  # the test's own read access
    app: App  # the test's own handle on the core (set-up only: prices)
    machines: list[Machine] = field(default_factory=list)
    services: list[ServiceProcess] = field(default_factory=list)

    @classmethod
    async def open(cls, tmp: Path, chain: SystemChain, env: dict[str, str]) -> Market:
        settings = _settings(env)
        app = build_app(settings, auto_approve=True)
        await app.start()
        db = create_database(settings.database_url, schema=settings.database_schema)
        return cls(tmp, chain, env, db, app)

    def service(self, name: str, port: int, **extra: str) -> ServiceProcess:
        env = {**self.env, "WEB_PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
        process = ServiceProcess(name, {**env, **extra}, self.tmp / f"{name}.log")
        self.services.append(process)
        return process

    async def add_machines(self, count: int) -> list[Machine]:
        """``count`` providers with one machine each; their agent tokens."""
        for i in range(count):
            name, region = f"prov{i}", REGIONS[i]
            who = await self.app.users.identify("terminal", name, name)
            await register_provider(self.app, who)
            view = await self.app.providers.add_machine(who, "rig", region)
            self.machines.append(Machine(name, region, view.machine_id, view.token))
        return self.machines

    def start_agents(self, server: str) -> None:
        for m in self.machines:
            m.agent = AgentProcess(
                f"agent-{m.provider}", server, m.token, GPUS, self.tmp / m.provider
            )
            m.agent.start()

    async def price_listings(self, within: float = 60.0) -> None:
        """Wait until every agent reported its GPUs, then offer them."""
        wanted = len(self.machines) * len(MODELS)

        async def listed() -> bool:
            return await self.count(tables.listings) >= wanted

        await eventually(listed, within, "every agent's GPUs listed", every=0.3)
        for m in self.machines:
            who = await self.app.users.identify("terminal", m.provider, m.provider)
            await self.app.providers.set_price(who, "rig", PRICE, None)
        c = tables.listings.c
        async with self.db.read.connect() as conn:
            available = await conn.scalar(
                select(func.count())
                .select_from(tables.listings)
                .where(c.status == ListingStatus.AVAILABLE)
            )
        assert available == wanted, f"{available} of {wanted} listings offered"

    async def count(self, table, *where) -> int:
        async with self.db.read.connect() as conn:
            query = select(func.count()).select_from(table)
            for clause in where:
                query = query.where(clause)
            return int(await conn.scalar(query))

    async def recorded(self, keys: set[str]) -> bool:
        """Every outbox message with one of these keys is recorded as sent."""
        o = tables.outbox.c
        return await self.count(tables.outbox, o.dedupe_key.in_(keys), o.sent_at.is_(None)) == 0

    def agent_grants(self) -> dict[int, dict[str, str]]:
        """machine id -> rental id -> the instance's key, read from each agent's state file."""
        return {m.machine_id: m.agent.granted() for m in self.machines if m.agent}

    async def assert_consistent(self, standin: StandIn, renters: list[Renter]) -> None:
        """The database agrees with the contract and the agents, no update was handled twice,
        and every renter got its credentials, private key and receipt exactly once."""
        problems = await reconcile(self.db, self.chain, self.agent_grants())
        problems += await handled_once(self.db, renters)
        assert problems == [], "\n".join(problems)
        for renter in renters:
            counts = standin.counts(renter.user_id)
            one = {renter.rental_id: 1}
            story = f"{renter.user_id}: {counts}\n{standin.story(renter.user_id)}"
            assert counts["credentials"] == one, story
            assert counts["private_key"] == one, story
            assert counts["receipt"] == one, story

    async def close(self, failed: bool = False) -> None:
        """Stop everything; after a failed run print the logs and the rows first."""
        if failed:
            print(self.logs())
            print(await self.report())
        for process in self.services:
            process.stop()
        for m in self.machines:
            if m.agent is not None:
                m.agent.stop()
        with contextlib.suppress(Exception):
            await self.app.close()
        await self.db.dispose()

    async def report(self) -> str:
        """Rentals and outbox rows, for a failure message."""
        r, o = tables.rentals.c, tables.outbox.c
        async with self.db.read.connect() as conn:
            rentals = (
                await conn.execute(
                    select(r.id, r.renter_id, r.state, r.gpu_model, r.cancel_reason).order_by(r.id)
                )
            ).all()
            outbox = (
                await conn.execute(
                    select(
                        o.id,
                        o.user_id,
                        o.dedupe_key,
                        o.attempts,
                        o.created_at,
                        o.sent_at,
                        o.claimed_until,
                        o.last_error,
                    ).order_by(o.id)
                )
            ).all()
        lines = ["rentals:"] + [f"  {tuple(x)}" for x in rentals]
        return "\n".join(lines + ["outbox:"] + [f"  {tuple(x)}" for x in outbox])

    def logs(self) -> str:
        parts = [f"--- {p.name} ---\n{p.tail(6000)}" for p in self.services]
        parts += [f"--- {m.agent.name} ---\n{m.agent.tail(1500)}" for m in self.machines if m.agent]
        return "\n".join(parts)


def service_env(chain: SystemChain, standin: StandIn, **extra: str) -> dict[str, str]:
    """The settings every service process of these tests shares, plus ``extra``."""
    return {
        **chain.settings(),
        "SIMULATED_PROVIDERS": "0",
        "KEEPER_INTERVAL_S": "1",
        "RELAY_RETRY_S": "8",  # anvil relays in well under a second
        "WATCH_INTERVAL_S": "0.5",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_URL": standin.url,
        **extra,
    }


def renters(
    first_id: int,
    count: int,
    standin: StandIn,
    post: Callable[[dict], Awaitable[None]],
    rng: random.Random,
) -> list[Renter]:
    """``count`` Telegram renters, each after one model in one region (one offer each)."""
    return [
        Renter(
            user_id=first_id + i,
            model=MODELS[i % len(MODELS)],
            region=REGIONS[i // len(MODELS)],
            standin=standin,
            post=post,
            rng=random.Random(rng.random()),
        )
        for i in range(count)
    ]


async def run_staggered(renters: list[Renter], gap: float, deadline_s: float) -> None:
    """Every renter plays its rental, each ``gap`` seconds after the one before, all
    before one deadline ``deadline_s`` from now."""
    deadline = time.monotonic() + deadline_s

    async def staggered(renter: Renter, delay: float) -> None:
        await asyncio.sleep(delay)
        await renter.run(deadline)

    await asyncio.gather(*(staggered(r, i * gap) for i, r in enumerate(renters)))


def _settings(env: dict[str, str]) -> Settings:
    values = {k.lower(): v for k, v in env.items()}
    return Settings(_env_file=None, **values)
