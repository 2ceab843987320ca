"""Telegram front end benchmark: updates per second through aiogram's Dispatcher with the real
routers, middlewares and handlers, beside what bare aiogram and the database floor reach, and
the latency at a steady rate.

    python -m tests.bench.bench_telegram [--updates 4000] [--steady 1000] [--write]

In one run, on a fresh SQLite file and on PostgreSQL when it answers at 127.0.0.1:5432:

* bare aiogram: one handler that replies (``tests.bench.telegram_floor``);
* the floor: bare aiogram plus one SELECT and one write transaction per update through
  SQLAlchemy async sessions on ``core.db.engine.create_database``'s engines;
* rigshare: the application built through the production bootstrap (fake escrow,
  auto-approving development wallet), its Telegram front end with every middleware.

Throughput: ``--updates`` updates with 16 in flight (aiogram's polling runs each update as its
own task, at most TELEGRAM_CONCURRENCY at a time). Latency (rigshare): ``--steady`` updates
arriving at 100 a second, three runs, p99 of each.

rigshare's mix, 300 users: /gpus with filters and pages 30 %, /rent 25 %, button presses 25 %
(the next page of the user's own /gpus answer; cancelling the user's own quote), /status of a
live rental 15 %, /help 5 %. A user with an open quote cancels it before asking for another,
and the market (100 machines of 8 GPUs) has room for every open quote, so /rent really quotes;
the printed mix says how many quoted and how many found nothing. Every simulated user reads
only the answers to its own updates (``tests.bench.telegram_standin``) and no Bot API call is
kept. The garbage collector is tuned as ``rigshare run`` tunes it (``tune_gc_for_serving``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from aiogram import Bot
from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.common.outbox import SendLimits
from bot.common.ratelimit import MemoryRateLimiter
from bot.settings import Settings
from bot.telegram.front import TelegramFrontEnd, ledger_prefix
from core.db.engine import create_database
from core.runtime import tune_gc_for_serving
from tests.bench import telegram_floor
from tests.bench.report import percentile, row, write_section
from tests.bench.telegram_standin import Feeder, QuietTelegram, button_data
from tests.bot.telegram.fake_telegram import TOKEN, RecordingSession
from tests.bot.telegram.support import TgUser
from tests.fakes.clock import FakeClock
from tests.support import PG_URL, add_provider, pg_available, pg_drop_schema, pg_exec

CMD = "python -m tests.bench.bench_telegram"
USERS = 300
IN_FLIGHT = Settings.model_fields["telegram_concurrency"].default  # as rigshare run polls
STEADY_RATE = 100  # updates a second for the latency measure (a busy bot)
STEADY_RUNS = 3
MACHINES, GPUS_EACH = 100, 8
RENTERS_WITH_RENTALS = 30
GPU_WORDS = {
    "rtx4090": "4090",
    "rtx3090": "3090",
    "h100": "h100",
    "l4": "l4",
    "a100-80gb": "a100-80gb",
}
GPUS = list(GPU_WORDS)
Action = Callable[[TgUser], Awaitable[str]]


def _users() -> list[TgUser]:
    return [TgUser(10_000 + i, f"user{i}", "de" if i % 4 == 0 else "en") for i in range(USERS)]


async def _throughput(action: Action, users: list[TgUser], updates: int, seed: int) -> tuple:
    rng = random.Random(seed)
    queue = [rng.choice(users) for _ in range(updates)]
    kinds: Counter[str] = Counter()

    async def worker() -> None:
        while queue:
            kinds[await action(queue.pop())] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return updates / (time.perf_counter() - start), kinds


async def _steady(action: Action, users: list[TgUser], updates: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    took: list[float] = []

    async def timed(user: TgUser) -> None:
        t0 = time.perf_counter()
        await action(user)
        took.append(time.perf_counter() - t0)

    tasks = []
    t0 = time.perf_counter()
    for i in range(updates):
        delay = t0 + i / STEADY_RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(rng.choice(users))))
    await asyncio.gather(*tasks)
    return took


def _bot() -> Bot:
    return Bot(TOKEN, session=RecordingSession(QuietTelegram()))


async def bare(updates: int) -> float:
    feeder = Feeder(telegram_floor.bare(), _bot(), FakeClock().now())

    async def action(user: TgUser) -> str:
        return "ok" if await feeder.send(user, "/gpus") else "unanswered"

    tune_gc_for_serving()
    rate, kinds = await _throughput(action, _users(), updates, 1)
    print(f"bare aiogram: {rate:,.0f} updates/s; {dict(kinds)}")
    return rate


async def floor(label: str, url: str, schema: str | None, updates: int) -> float:
    db = create_database(url, schema=schema)
    users = _users()
    try:
        feeder = Feeder(await telegram_floor.floor(db, [u.id for u in users]), _bot(), 0)

        async def action(user: TgUser) -> str:
            return "ok" if await feeder.send(user, "/gpus") else "unanswered"

        tune_gc_for_serving()
        rate, kinds = await _throughput(action, users, updates, 2)
    finally:
        await db.dispose()
    print(f"{label} floor (1 SELECT + 1 write transaction): {rate:,.0f} updates/s; {dict(kinds)}")
    return rate


class Renters:
    """The simulated rigshare users: each remembers the last /gpus page and open quote it
    was sent, and presses buttons on those."""

    def __init__(self, feeder: Feeder, rng: random.Random) -> None:
        self.feeder, self.rng = feeder, rng
        self.pages: dict[int, object] = {}
        self.quotes: dict[int, object] = {}

    async def act(self, user: TgUser) -> str:
        r, f = self.rng.random(), self.feeder
        quote = self.quotes.get(user.id)
        if r < 0.30:
            return await self._gpus(user, self._line())
        if r < 0.55:
            if quote is not None:  # one open quote a user: the market never runs dry
                return await self._cancel(user)
            gpu = GPU_WORDS[self.rng.choice(GPUS)]
            replies = await f.send(user, f"/rent {gpu} {self.rng.randint(1, 8)}h")
            if replies and button_data(replies[0], "r:cancel:"):
                self.quotes[user.id] = replies[0]
                return "rent quoted"
            return "rent found nothing" if replies else "unanswered"
        if r < 0.80:
            if quote is not None and self.rng.random() < 0.5:
                return await self._cancel(user)
            page = self.pages.get(user.id)
            data = button_data(page, f"g:{_page(page) + 1}:") if page is not None else None
            if data:
                return "press page" if await f.press(user, page, data) else "unanswered"
            return await self._gpus(user, "/gpus")
        if r < 0.95:
            return "status" if await f.send(user, "/status") else "unanswered"
        return "help" if await f.send(user, "/help") else "unanswered"

    async def _cancel(self, user: TgUser) -> str:
        quote = self.quotes.pop(user.id)
        replies = await self.feeder.press(user, quote, button_data(quote, "r:cancel:"))
        return "press cancel" if replies else "unanswered"

    async def _gpus(self, user: TgUser, line: str) -> str:
        replies = await self.feeder.send(user, line)
        if replies and replies[0].buttons():
            self.pages[user.id] = replies[0]
        return "gpus" if replies else "unanswered"

    def _line(self) -> str:
        r, gpu = self.rng.random(), GPU_WORDS[self.rng.choice(GPUS)]
        if r < 0.5:
            return "/gpus"
        if r < 0.7:
            return f"/gpus {gpu}"
        if r < 0.85:
            return f"/gpus sort=reliability page={self.rng.randint(1, 3)}"
        return f"/gpus max=1.5 region=eu {gpu}"


def _page(sent) -> int:  # noqa: ANN001 - a Call
    return 1 if "page 1" in sent.text or "Seite 1" in sent.text else 2


async def rigshare(
    label: str, settings: Settings, updates: int, steady: int, runs: int = STEADY_RUNS
) -> tuple:
    rng = random.Random(7)
    clock = FakeClock()
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    front = TelegramFrontEnd(
        app,
        session=RecordingSession(QuietTelegram(now=clock.now())),
        limiter=MemoryRateLimiter(1000.0, 1000),
        send_limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
        status_interval_s=3600.0,
    )
    await front.prepare()
    feeder = Feeder(front.dp, front.bot, clock.now())
    users = _users()
    try:
        for i in range(MACHINES):
            price = 150_000 + rng.randrange(2_000_000) // 1000 * 1000
            await add_provider(app, f"prov{i}", [GPUS[i % len(GPUS)]] * GPUS_EACH, price)
        for user in users:  # each user's first update creates the account: not measured
            await feeder.send(user, "/start")
        for user in users[:RENTERS_WITH_RENTALS]:  # so /status has a live rental to show
            quote = (await feeder.send(user, f"/rent {GPU_WORDS[GPUS[user.id % 5]]} 6h"))[0]
            await feeder.press(user, quote, button_data(quote, "r:confirm:"))
        while True:
            await app.settle()
            if not await front.sender.run_once():
                break
        renters = Renters(feeder, rng)
        tune_gc_for_serving()
        pages = app.market.pages
        pages.hits = pages.misses = 0
        rate, kinds = await _throughput(renters.act, users, updates, 3)
        reused = pages.hits / max(1, pages.hits + pages.misses)
        await app.settle()
        p99s = []
        for run in range(runs):
            took = await _steady(renters.act, users, steady, 10 + run)
            p99s.append(percentile(took, 99) * 1000)
            await app.settle()
    finally:
        await front.stop()
        await app.close()
        if front.redis is not None:
            await _forget_ledger(settings)
    print(
        f"{label} rigshare: {rate:,.0f} updates/s ({IN_FLIGHT} in flight); at {STEADY_RATE}/s "
        f"p99 {', '.join(f'{p:.1f}' for p in p99s)} ms; mix {dict(kinds)}; "
        f"/gpus pages reused {reused:.0%}"
    )
    kinds["/gpus pages reused (%)"] = round(reused * 100)
    return rate, p99s, kinds


def _redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.3):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        return None


async def _forget_ledger(settings: Settings) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis_url)
    try:
        keys = [k async for k in redis.scan_iter(ledger_prefix(settings) + ":*")]
        for i in range(0, len(keys), 1000):
            await redis.delete(*keys[i : i + 1000])
    finally:
        await redis.aclose()


async def with_redis(label: str, settings: Settings, updates: int) -> float | None:
    """rigshare with REDIS_URL: the handled-once ledger (and FSM data) in Redis."""
    url = _redis_url()
    if url is None:
        return None
    redis_settings = settings.model_copy(update={"redis_url": url})
    rate, _p99s, _kinds = await rigshare(f"{label} + Redis", redis_settings, updates, 0, 0)
    return rate


async def main(updates: int, steady: int, write: bool) -> None:
    token = SecretStr(TOKEN)
    results = []
    bare_rate = await bare(updates)
    with tempfile.TemporaryDirectory() as tmp:
        floor_rate = await floor("SQLite", f"sqlite:///{tmp}/floor.sqlite3", None, updates)
        sqlite = Settings(
            _env_file=None,
            chain="fake",
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            telegram_token=token,
        )
        measured = await rigshare("SQLite", sqlite, updates, steady)
        sqlite = sqlite.model_copy(update={"database_url": f"sqlite:///{tmp}/redis.sqlite3"})
        results.append(
            ("SQLite", floor_rate, measured, await with_redis("SQLite", sqlite, updates))
        )
    if pg_available():
        schema = f"bench_{secrets.token_hex(4)}"
        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
        try:
            floor_rate = await floor("PostgreSQL", PG_URL, schema, updates)
            pg = Settings(
                _env_file=None,
                chain="fake",
                database_url=PG_URL,
                database_schema=schema,
                telegram_token=token,
            )
            measured = await rigshare("PostgreSQL", pg, updates, steady)
            await asyncio.to_thread(pg_drop_schema, schema)
            await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
            redis_rate = await with_redis("PostgreSQL", pg, updates)
            results.append(("PostgreSQL", floor_rate, measured, redis_rate))
        finally:
            await asyncio.to_thread(pg_drop_schema, schema)
    load = os.getloadavg()[0]
    cmd = f"{CMD} --updates {updates} --steady {steady}"
    rows = [
        row(
            f"Telegram updates/s, bare aiogram, one replying handler ({IN_FLIGHT} in flight)",
            "reference",
            f"{bare_rate:,.0f}/s",
            cmd,
        )
    ]
    for db, floor_rate, (rate, p99s, _kinds), redis_rate in results:
        rows.append(
            row(
                f"Telegram updates/s, floor: bare aiogram + 1 SELECT + 1 write transaction "
                f"(SQLAlchemy async), {db}",
                "reference",
                f"{floor_rate:,.0f}/s",
                cmd,
            )
        )
        rows.append(
            row(
                f"Telegram updates/s through aiogram, real handlers, {db} ({IN_FLIGHT} in flight)",
                ">= 600/s per process and >= 1.0x the floor",
                f"{rate:,.0f}/s ({rate / floor_rate:.2f}x the floor)",
                cmd,
            )
        )
        if redis_rate is not None:
            rows.append(
                row(
                    f"Telegram updates/s through aiogram, real handlers, {db}, REDIS_URL set "
                    "(handled-once ledger in Redis)",
                    ">= 600/s per process and >= 1.0x the floor",
                    f"{redis_rate:,.0f}/s ({redis_rate / floor_rate:.2f}x the floor)",
                    cmd,
                )
            )
        rows.append(
            row(
                f"p99 handler latency at {STEADY_RATE} updates/s, {db}, {STEADY_RUNS} runs",
                "<= 20 ms",
                " / ".join(f"{p:.1f}" for p in p99s) + " ms",
                cmd,
            )
        )
    for r in rows:
        print(r)
    if write:
        mix = "; ".join(
            f"{db}: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            for db, _f, (_r, _p, kinds), _redis in results
        )
        write_section(
            "Telegram front end",
            rows,
            note=(
                f"{USERS} users; mix: /gpus 30 %, /rent 25 %, button presses on the user's own "
                "messages 25 % (next page, cancel the open quote), /status 15 %, /help 5 %; "
                f"{MACHINES} machines of {GPUS_EACH} GPUs, so /rent quotes (throughput run: "
                f"{mix}). Each update through aiogram's Dispatcher.feed_update with the "
                "production middlewares (handled-once ledger, rate limit, identity, language) "
                "and routers, Bot API answered in process and nothing kept, /gpus pages "
                "reused for the same filters within MARKET_CACHE_S (1 s) unless the market "
                "changed (the share reused is in the mix), GC tuned as "
                f"`rigshare run` does. Load average while measured: {load:.1f}"
                + (" (other jobs shared the machine)." if load > 1.0 else ".")
            ),
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=4000)
    ap.add_argument("--steady", type=int, default=1000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    asyncio.run(main(args.updates, args.steady, args.write))
