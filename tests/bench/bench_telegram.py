"""Telegram front end benchmark: updates per second through aiogram's Dispatcher with the real
routers, middlewares and handlers, and the handler latency.

    python -m tests.bench.bench_telegram [--updates 4000] [--write]

The application is built through the production bootstrap (fake escrow, auto-approving
development wallet, simulated agents) on a fresh SQLite file, and on PostgreSQL when it
answers at 127.0.0.1:5432. 300 Telegram users send a realistic mix; throughput with 16
updates in flight at once (aiogram's polling handles each update as its own task, at most
TELEGRAM_CONCURRENCY at a time), latency
with updates arriving at a steady 100 a second:
/gpus with filters and pages 30 %, /rent 25 %, button presses 25 % (next page, cancel a
quote), /status of a live rental 15 %, /help 5 %. Bot API calls go to the in-process
recording stand-in of the tests (requests built and answers parsed by aiogram as usual).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import tempfile
import time

from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.settings import Settings
from tests.bench.report import percentile, row, write_section
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import Harness, TgUser
from tests.fakes.clock import FakeClock
from tests.support import PG_URL, add_provider, pg_available, pg_drop_schema, pg_exec

CMD = "python -m tests.bench.bench_telegram"
USERS = 300
IN_FLIGHT = Settings.model_fields["telegram_concurrency"].default  # as rigshare run polls
STEADY_RATE = 100  # updates a second for the latency measure (a busy bot)
RENTERS_WITH_RENTALS = 30
GPUS = ["rtx4090", "rtx3090", "h100", "l4", "a100-80gb"]
GPU_WORDS = {
    "rtx4090": "4090",
    "rtx3090": "3090",
    "h100": "h100",
    "l4": "l4",
    "a100-80gb": "a100-80gb",
}


async def _market(app, rng: random.Random) -> None:
    for i in range(60):
        gpus = [GPUS[i % len(GPUS)]] * (1 + i % 2)
        await add_provider(app, f"prov{i}", gpus, 150_000 + rng.randrange(2_000_000) // 1000 * 1000)


async def _rentals(tg: Harness, users: list[TgUser]) -> None:
    """Some renters start a rental first, so /status has something live to show."""
    for user in users[:RENTERS_WITH_RENTALS]:
        quote = (await tg.send(user, f"/rent {GPU_WORDS[GPUS[user.id % 5]]} 6h"))[0]
        if _data(quote, "r:confirm:"):
            await tg.press_data(user, quote, _data(quote, "r:confirm:"))
    await tg.deliver()


def _data(sent, prefix: str) -> str | None:
    """The callback data of the button on ``sent`` whose data starts with ``prefix``."""
    found = [
        b["callback_data"] for b in sent.buttons() if b.get("callback_data", "").startswith(prefix)
    ]
    return found[0] if found else None


def _page(sent) -> int:
    sort_button = _data(sent, "g:1:")
    return 1 if sort_button is None or "page 1" in sent.text or "Seite 1" in sent.text else 2


def _line(rng: random.Random) -> str:
    r = rng.random()
    gpu = GPU_WORDS[rng.choice(GPUS)]
    if r < 0.5:
        return "/gpus"
    if r < 0.7:
        return f"/gpus {gpu}"
    if r < 0.85:
        return f"/gpus sort=reliability page={rng.randint(1, 3)}"
    return f"/gpus max=1.5 region=eu {gpu}"


async def _one(tg: Harness, user: TgUser, rng: random.Random, state: dict) -> str:
    r = rng.random()
    if r < 0.30:
        calls = await tg.send(user, _line(rng))
        if calls and calls[0].buttons():
            state.setdefault(user.id, {})["page"] = calls[0]
        return "gpus"
    if r < 0.55:
        calls = await tg.send(user, f"/rent {GPU_WORDS[rng.choice(GPUS)]} {rng.randint(1, 8)}h")
        if calls and calls[0].buttons():
            state.setdefault(user.id, {})["quote"] = calls[0]
        return "rent"
    if r < 0.80:
        mine = state.get(user.id, {})
        if "quote" in mine and rng.random() < 0.5:
            quote = mine.pop("quote")
            await tg.press_data(user, quote, _data(quote, "r:cancel:"))
            return "press"
        page = mine.get("page")
        if page is not None and (data := _data(page, f"g:{_page(page) + 1}:")):
            await tg.press_data(user, page, data)
            return "press"
        await tg.send(user, "/gpus")
        return "gpus"
    if r < 0.95:
        await tg.send(user, "/status")
        return "status"
    await tg.send(user, "/help")
    return "help"


async def _run(label: str, settings: Settings, updates: int) -> tuple[float, float, float, dict]:
    rng = random.Random(7)
    clock = FakeClock()
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    tg = Harness(app)
    await tg.start()
    try:
        await _market(app, rng)
        users = [TgUser(10_000 + i, f"user{i}", "de" if i % 4 == 0 else "en") for i in range(USERS)]
        for user in users:  # each user's first update creates the account: not measured
            await tg.send(user, "/start")
        await _rentals(tg, users)
        state: dict = {}
        kinds: dict[str, int] = {}

        async def timed(user: TgUser, into: list[float]) -> None:
            t0 = time.perf_counter()
            kind = await _one(tg, user, rng, state)
            into.append(time.perf_counter() - t0)
            kinds[kind] = kinds.get(kind, 0) + 1

        # throughput: as many in flight as aiogram's polling would start
        queue = [rng.choice(users) for _ in range(updates)]
        saturated: list[float] = []

        async def worker() -> None:
            while queue:
                await timed(queue.pop(), saturated)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
        await app.settle()
        # latency: updates arriving at a steady rate, each handled as it comes
        steady: list[float] = []
        tasks = []
        t0 = time.perf_counter()
        for i in range(updates // 2):
            delay = t0 + i / STEADY_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(rng.choice(users), steady)))
        await asyncio.gather(*tasks)
        await app.settle()
    finally:
        await tg.close()
        await app.close()
    rate = len(saturated) / elapsed
    p50, p99 = percentile(steady, 50) * 1000, percentile(steady, 99) * 1000
    print(
        f"{label}: {rate:,.0f} updates/s ({IN_FLIGHT} in flight); at {STEADY_RATE}/s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; mix {kinds}"
    )
    return rate, p50, p99, kinds


async def main(updates: int, write: bool) -> None:
    token = SecretStr(TOKEN)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Settings(
            _env_file=None,
            chain="fake",
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            telegram_token=token,
        )
        results = [("SQLite", await _run("SQLite", sqlite, updates))]
    if pg_available():
        schema = f"bench_{secrets.token_hex(4)}"
        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
        try:
            pg = Settings(
                _env_file=None,
                chain="fake",
                database_url=PG_URL,
                database_schema=schema,
                telegram_token=token,
            )
            results.append(("PostgreSQL", await _run("PostgreSQL", pg, updates)))
        finally:
            await asyncio.to_thread(pg_drop_schema, schema)
    for db, (rate, _p50, p99, _kinds) in results:
        cmd = f"{CMD} --updates {updates}"
        rows.append(
            row(
                f"Telegram updates/s through aiogram, real handlers, {db} ({IN_FLIGHT} in flight)",
                ">= 500/s on 2 cores",
                f"{rate:,.0f}/s",
                cmd,
            )
        )
        rows.append(
            row(
                f"p99 handler latency at {STEADY_RATE} updates/s, {db}",
                "<= 50 ms",
                f"{p99:.1f} ms",
                cmd,
            )
        )
    for r in rows:
        print(r)
    if write:
        write_section(
            "Telegram front end",
            rows,
            note=(
                f"{USERS} users; mix: /gpus 30 %, /rent 25 %, button presses 25 %, /status 15 %, "
                "/help 5 %; each update through aiogram's Dispatcher.feed_update with the "
                "production middlewares (handled-once ledger, rate limit, identity, language) "
                "and routers, Bot API answered in process. Load average while measured: "
                f"{os.getloadavg()[0]:.1f} (other jobs shared the machine)."
            ),
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=4000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    asyncio.run(main(args.updates, args.write))
