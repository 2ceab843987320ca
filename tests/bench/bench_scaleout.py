"""Scale-out throughput: Telegram webhook updates handled per second by one ``rigshare run``
process, and by two sharing the work, on PostgreSQL and Redis.

    python -m tests.bench.bench_scaleout [--updates 1500] [--write]

Starts anvil with a fresh escrow, a PostgreSQL schema of its own, the Bot API stand-in and
the service processes (webhook mode, Redis for FSM state and rate limits), seeds 40 priced
machines, then posts ``/gpus`` updates from 500 users (a database search, a rendered page with
buttons, one sendMessage back to the stand-in) as fast as the processes take them, 64 in
flight, alternating between the processes. The figure is updates whose answer reached the
stand-in, per second, from the first post to the last answer. The load generator, the
stand-in and the processes share the machine's cores. Prints the rows of docs/benchmarks.md;
``--write`` also replaces the section there.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import tempfile
import time
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bot.settings import Settings
from bot.telegram.front import webhook_secret
from tests.bench.report import row, write_section
from tests.bot.telegram.fake_telegram import TOKEN
from tests.contracts.anvil import free_port, running_anvil
from tests.support import PG_URL, add_provider, pg_drop_schema, pg_exec
from tests.system.chain import SystemChain
from tests.system.harness import Market
from tests.system.renters import StandIn

CMD = "python -m tests.bench.bench_scaleout"
USERS = 500
IN_FLIGHT = 64
MODELS = ["rtx4090", "rtx3090", "h100", "a100-80gb", "l4"]


async def _seed(market: Market, machines: int) -> None:
    for i in range(machines):
        await add_provider(market.app, f"bench{i}", [MODELS[i % len(MODELS)]], 300_000 + i * 1000)


async def _run(market: Market, standin: StandIn, n_processes: int, updates: int) -> float:
    ports = [free_port() for _ in range(n_processes)]
    services = [market.service(f"svc{n_processes}{i}", p) for i, p in enumerate(ports)]
    for s in services:
        s.env["PUBLIC_URL"] = "https://127.0.0.1:8443"
        s.start()
    await asyncio.gather(*(s.wait_ready(120) for s in services))
    secret = webhook_secret(Settings(_env_file=None, telegram_token=SecretStr(TOKEN)))
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    ids = itertools.count(int(time.time() * 1000))
    before = len(standin.telegram.sent("sendMessage"))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(updates):
        queue.put_nowait(i)

    async def poster(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            user = 900_000 + i % USERS
            update = standin.message_update(user, "/gpus")
            update["update_id"] = next(ids)
            url = services[i % n_processes].url + "/telegram/webhook"
            async with http.post(url, json=update, headers=headers) as resp:
                assert resp.status == 200, await resp.text()

    try:
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(poster(http) for _ in range(IN_FLIGHT)))
        deadline = time.monotonic() + 300
        while len(standin.telegram.sent("sendMessage")) - before < updates:  # noqa: ASYNC110
            if time.monotonic() > deadline:
                raise RuntimeError("not every update was answered; see the service logs")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for s in services:
            s.stop()
    return updates / elapsed


async def measure(updates: int) -> list[str]:
    schema = f"bench_{secrets.token_hex(4)}"
    await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    standin = await StandIn().start()
    with running_anvil() as url:
        chain = await SystemChain.deploy(url, "bench")
        env = {
            **chain.settings(),
            "DATABASE_URL": PG_URL,
            "DATABASE_SCHEMA": schema,
            "REDIS_URL": "redis://127.0.0.1:6379/4",
            "SIMULATED_PROVIDERS": "0",
            "TELEGRAM_TOKEN": TOKEN,
            "TELEGRAM_API_URL": standin.url,
            "TELEGRAM_WEBHOOK": "true",
            "TELEGRAM_RATE_BURST": "1000",
            "LOG_LEVEL": "WARNING",
        }
        market = await Market.open(tmp, chain, env)
        try:
            await _seed(market, 40)
            one = await _run(market, standin, 1, updates)
            two = await _run(market, standin, 2, updates)
        finally:
            await market.close()
            await chain.close()
            await standin.stop()
            await asyncio.to_thread(pg_drop_schema, schema)
    what = f"/gpus webhook updates answered per second ({updates:,} updates, {USERS} users)"
    return [
        row(f"{what}, 1 process, PostgreSQL + Redis", "baseline", f"{one:,.0f}/s", CMD),
        row(
            f"{what}, 2 processes sharing the work",
            "> 1 process",
            f"{two:,.0f}/s ({two / one:.2f}x)",
            CMD,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1500)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    rows = asyncio.run(measure(args.updates))
    for r in rows:
        print(r)
    if args.write:
        write_section(
            "Scale-out",
            rows,
            "Service processes (`rigshare run`, Telegram webhook mode) on one PostgreSQL schema "
            "and Redis; the load generator, the Bot API stand-in, anvil and the processes "
            "share the cores, so two processes can gain at most what the machine has left.",
        )


if __name__ == "__main__":
    main()
