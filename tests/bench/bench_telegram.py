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
own task, at most TELEGRAM_CONCURRENCY at a time), in three rounds in which bare aiogram, the
floor and rigshare (and rigshare with REDIS_URL) take turns, all of them built and ready
beforehand; each rate is the median of its rounds, and the ratio to the floor the median of
the rounds' ratios. Taking turns matters on a shared machine: its speed drifts by a quarter
within a minute, which one run after another would report as a difference between them.
Latency (rigshare): ``--steady`` updates arriving at 100 a second, three runs, p99 of each.

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
import contextlib
import os
import random
import secrets
import socket
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
ROUNDS = 3  # bare aiogram, the floor and rigshare take turns; each figure is the median
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


class Bare:
    """Bare aiogram: one handler that replies."""

    def __init__(self) -> None:
        self.feeder = Feeder(telegram_floor.bare(), _bot(), FakeClock().now())

    async def act(self, user: TgUser) -> str:
        return "ok" if await self.feeder.send(user, "/gpus") else "unanswered"


class Floor:
    """bare aiogram + 1 SELECT + 1 write transaction per update, on ``url``."""

    def __init__(self, url: str, schema: str | None) -> None:
        self.db = create_database(url, schema=schema)
        self.feeder: Feeder | None = None

    async def __aenter__(self) -> Floor:
        dp = await telegram_floor.floor(self.db, [u.id for u in _users()])
        self.feeder = Feeder(dp, _bot(), 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.db.dispose()

    async def act(self, user: TgUser) -> str:
        assert self.feeder is not None
        return "ok" if await self.feeder.send(user, "/gpus") else "unanswered"


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


class Rigshare:
    """rigshare built through the production bootstrap, its market stocked and its users
    known, ready for measured rounds (``act``) and latency runs (``steady``)."""

    def __init__(self, label: str, settings: Settings) -> None:
        self.label, self.settings = label, settings
        self.rng = random.Random(7)
        self.clock = FakeClock()
        self.app = build_app(settings, clock=self.clock, auto_approve=True)
        self.front = TelegramFrontEnd(
            self.app,
            session=RecordingSession(QuietTelegram(now=self.clock.now())),
            limiter=MemoryRateLimiter(1000.0, 1000),
            send_limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
            status_interval_s=3600.0,
        )
        self.kinds: Counter[str] = Counter()

    async def __aenter__(self) -> Rigshare:
        app, front, rng = self.app, self.front, self.rng
        await app.start()
        await front.prepare()
        feeder = Feeder(front.dp, front.bot, self.clock.now())
        users = _users()
        for i in range(MACHINES):
            price = 150_000 + rng.randrange(2_000_000) // 1000 * 1000
            await add_provider(app, f"prov{i}", [GPUS[i % len(GPUS)]] * GPUS_EACH, price)
        for user in users:  # each user's first update creates the account: not measured
            await feeder.send(user, "/start")
        for user in users[:RENTERS_WITH_RENTALS]:  # so /status has a live rental to show
            quote = (await feeder.send(user, f"/rent {GPU_WORDS[GPUS[user.id % 5]]} 6h"))[0]
            await feeder.press(user, quote, button_data(quote, "r:confirm:"))
        await self.settle()
        self.renters = Renters(feeder, rng)
        pages = app.market.pages
        pages.hits = pages.misses = 0
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.front.stop()
        await self.app.close()
        if self.front.redis is not None:
            await _forget_ledger(self.settings)

    async def settle(self) -> None:
        while True:
            await self.app.settle()
            if not await self.front.sender.run_once():
                break

    async def act(self, user: TgUser) -> str:
        kind = await self.renters.act(user)
        self.kinds[kind] += 1
        return kind

    def reused(self) -> float:
        """The share of /gpus pages given again from the market's page cache."""
        pages = self.app.market.pages
        return pages.hits / max(1, pages.hits + pages.misses)

    async def steady(self, updates: int, runs: int = STEADY_RUNS) -> list[float]:
        """p99 (ms) of each of ``runs`` runs of ``updates`` at STEADY_RATE a second."""
        p99s = []
        for run in range(runs):
            took = await _steady(self.act, _users(), updates, 10 + run)
            p99s.append(percentile(took, 99) * 1000)
            await self.settle()
        return p99s


async def rounds(contenders: dict[str, Action], updates: int) -> dict[str, list[float]]:
    """ROUNDS rounds in which each contender in turn handles ``updates`` updates; the rates
    of each, round by round. Taking turns spreads what else the machine does at the time
    over all of them, so their ratios hold where one run after another would not."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(ROUNDS):
        for name, action in contenders.items():
            tune_gc_for_serving()
            rate, _kinds = await _throughput(action, _users(), updates, 3 + r)
            rates[name].append(rate)
            await asyncio.sleep(0)
    return rates


def ratio(rates: list[float], floor_rates: list[float]) -> float:
    """The median over the rounds of rigshare's rate to the floor's in the same round."""
    return statistics.median(r / f for r, f in zip(rates, floor_rates, strict=True))


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


@dataclass
class Measured:
    database: str
    bare: list[float]
    floor: list[float]
    rigshare: list[float]
    p99s: list[float]
    kinds: Counter[str]
    redis: list[float] | None = None


async def measure(
    database: str, url: str, schema: str | None, settings: Settings, updates: int, steady: int
) -> Measured:
    """Bare aiogram, the floor and rigshare (and rigshare with REDIS_URL when Redis answers)
    taking turns on one database; then rigshare's latency at a steady rate."""
    redis_url = _redis_url()
    async with contextlib.AsyncExitStack() as stack:
        floor = await stack.enter_async_context(Floor(url, schema))
        rig = await stack.enter_async_context(Rigshare(database, settings))
        contenders: dict[str, Action] = {
            "bare": Bare().act,
            "floor": floor.act,
            "rigshare": rig.act,
        }
        if redis_url is not None:
            redis_settings = settings.model_copy(
                update={"redis_url": redis_url, **_second_database(settings)}
            )
            with_redis = Rigshare(f"{database} + Redis", redis_settings)
            contenders["redis"] = (await stack.enter_async_context(with_redis)).act
        rates = await rounds(contenders, updates)
        rig.kinds["/gpus pages reused (%)"] = round(rig.reused() * 100)
        p99s = await rig.steady(steady) if steady else []
    found = Measured(
        database,
        rates["bare"],
        rates["floor"],
        rates["rigshare"],
        p99s,
        rig.kinds,
        rates.get("redis"),
    )
    for name, figures in rates.items():
        print(f"{database} {name}: " + ", ".join(f"{x:,.0f}" for x in figures) + " updates/s")
    print(f"{database} rigshare / floor, by round: {ratio(found.rigshare, found.floor):.2f}x")
    return found


def _second_database(settings: Settings) -> dict[str, str]:
    """The Redis run's own database: a SQLite file beside the first, or its own schema."""
    if settings.database_url.startswith("sqlite"):
        return {"database_url": settings.database_url.replace(".sqlite3", "-redis.sqlite3")}
    return {"database_schema": f"{settings.database_schema}_redis"}


async def main(updates: int, steady: int, write: bool) -> None:
    token = SecretStr(TOKEN)
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Settings(
            _env_file=None,
            chain="fake",
            database_url=f"sqlite:///{tmp}/bench.sqlite3",
            telegram_token=token,
        )
        floor_url = f"sqlite:///{tmp}/floor.sqlite3"
        results.append(await measure("SQLite", floor_url, None, sqlite, updates, steady))
    if pg_available():
        schema = f"bench_{secrets.token_hex(4)}"
        schemas = [schema, f"{schema}_floor", f"{schema}_redis"]
        for name in schemas:
            await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{name}"')
        try:
            pg = Settings(
                _env_file=None,
                chain="fake",
                database_url=PG_URL,
                database_schema=schema,
                telegram_token=token,
            )
            results.append(
                await measure("PostgreSQL", PG_URL, f"{schema}_floor", pg, updates, steady)
            )
        finally:
            for name in schemas:
                await asyncio.to_thread(pg_drop_schema, name)
    load = os.getloadavg()[0]
    cmd = f"{CMD} --updates {updates} --steady {steady}"
    med = statistics.median
    bare_all = [x for m in results for x in m.bare]
    rounds_note = f"median of {ROUNDS} rounds taking turns"
    rows = [
        row(
            f"Telegram updates/s, bare aiogram, one replying handler ({IN_FLIGHT} in flight; "
            f"{rounds_note})",
            "reference",
            f"{med(bare_all):,.0f}/s",
            cmd,
        )
    ]
    for m in results:
        rows.append(
            row(
                f"Telegram updates/s, floor: bare aiogram + 1 SELECT + 1 write transaction "
                f"(SQLAlchemy async), {m.database}",
                "reference",
                f"{med(m.floor):,.0f}/s",
                cmd,
            )
        )
        rows.append(
            row(
                f"Telegram updates/s through aiogram, real handlers, {m.database} "
                f"({IN_FLIGHT} in flight; {rounds_note}, ratio: the median of each round's)",
                ">= 600/s per process and >= 1.0x the floor",
                f"{med(m.rigshare):,.0f}/s ({ratio(m.rigshare, m.floor):.2f}x the floor)",
                cmd,
            )
        )
        if m.redis is not None:
            rows.append(
                row(
                    f"Telegram updates/s through aiogram, real handlers, {m.database}, "
                    "REDIS_URL set (handled-once ledger in Redis)",
                    ">= 600/s per process and >= 1.0x the floor",
                    f"{med(m.redis):,.0f}/s ({ratio(m.redis, m.floor):.2f}x the floor)",
                    cmd,
                )
            )
        rows.append(
            row(
                f"p99 handler latency at {STEADY_RATE} updates/s, {m.database}, {STEADY_RUNS} runs",
                "<= 20 ms",
                " / ".join(f"{p:.1f}" for p in m.p99s) + " ms",
                cmd,
            )
        )
    for r in rows:
        print(r)
    if write:
        mix = "; ".join(
            f"{m.database}: " + ", ".join(f"{k} {v}" for k, v in sorted(m.kinds.items()))
            for m in results
        )
        write_section(
            "Telegram front end",
            rows,
            note=(
                f"{USERS} users; mix: /gpus 30 %, /rent 25 %, button presses on the user's own "
                "messages 25 % (next page, cancel the open quote), /status 15 %, /help 5 %; "
                f"{MACHINES} machines of {GPUS_EACH} GPUs, so /rent quotes (the {ROUNDS} "
                f"throughput rounds together: {mix}). Bare aiogram, the floor and rigshare "
                "(and rigshare with REDIS_URL) take turns, each built beforehand, in "
                f"{ROUNDS} rounds; rates are medians, ratios the median of the rounds'. Each update through aiogram's Dispatcher.feed_update with the "
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
