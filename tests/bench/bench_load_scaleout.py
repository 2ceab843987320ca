"""Load test, two processes: the load test's ramp against two ``rigshare run`` processes
(Telegram webhook mode) sharing one PostgreSQL schema and Redis.

    python -m tests.bench.bench_load_scaleout --ramp 50,150,300,600 --step-s 45 [--write]

The same renters as ``bench_load`` (tests/bench/load_ramp.py) play through the same ramp, but
each update is posted over HTTP as Telegram posts it, alternately to the two processes (a 503
from a full admission line is retried at the other, as a balancer would); a command's latency
runs from the post to the first Bot API call the bot makes in that chat afterwards, as the
Bot API stand-in receives it (the outbox's credentials, keys and receipts are not replies).
The escrow is the contract on anvil (tests/system/chain.py): every renter's development
wallet is funded there, every deposit, payout, refund and fee is a transaction. One process
runs the ``--providers`` simulated providers (SIMULATED_PROVIDERS: their agents beat every
15 s and answer grants in that process); either process may lead (keeper, chain watcher).

When the time is up every renter sends /stop and the run waits until no rental is between
states, no message unsent and no agent command open; then it checks: no listing rented twice
at once, no rental stuck, every settlement split exactly, and the database reconciled with
the contract (tests/system/reconcile.py: each rental's state against its escrow status,
every chain event applied once, each settlement's payout + fee + refund = its deposit in the
database and on chain, and the escrow holding exactly the open deposits, the fees and
anything claimable). ``--write`` replaces this configuration's rows in docs/benchmarks.md's
"Load test" section and keeps the other configurations'.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.common.i18n import SUPPORTED, catalogue
from bot.settings import Settings
from bot.telegram.front import webhook_secret
from core.db import tables
from core.domain.rentals import RentalState as S
from tests.bench.load_ramp import (
    CONFIGS,
    Load,
    print_latencies,
    publish,
    renter_users,
    run_ramp,
)
from tests.books import all_rentals, rental_books
from tests.bot.telegram.fake_telegram import TOKEN, Call
from tests.bot.telegram.support import TgUser, callback_query_json, message_json
from tests.contracts.anvil import free_port, running_anvil
from tests.contracts.chain_support import USDC
from tests.support import PG_URL, pg_drop_schema, pg_exec
from tests.system import harness
from tests.system.chain import SystemChain
from tests.system.harness import Market
from tests.system.processes import ServiceProcess
from tests.system.quiet import outstanding, quiesce
from tests.system.reconcile import reconcile
from tests.system.renters import CREDENTIALS, PRIVATE_KEY, RECEIPT, StandIn

CMD = "python -m tests.bench.bench_load_scaleout"
CONFIG = CONFIGS[2]
REDIS_URL = "redis://127.0.0.1:6379/6"  # this benchmark's own database: emptied at its start
WEBHOOK = "/telegram/webhook"
REPLY_WITHIN_S = 30.0  # a command unanswered by then counts with this latency


def _templates(*keys: str) -> list[re.Pattern[str]]:
    """The catalogue's texts for ``keys`` (a key ending in ``.`` names its section's
    texts) in every language, each as a pattern matching a text that begins with it."""
    out = []
    for lang in SUPPORTED:
        for key, text in catalogue(lang).items():
            if not any(
                key == k or (k.endswith(".") and key.startswith(k) and key.count(".") == 1)
                for k in keys
            ):
                continue
            parts = re.split(r"\{[a-z_]+\}", text)
            if sum(len(p) for p in parts) >= 20:  # too short a text could begin a reply
                out.append(re.compile(r"\A" + ".*?".join(re.escape(p) for p in parts), re.S))
    return out


# Messages from the outbox, not replies to the command just sent: every notice of a rental
# and of the wallet; the payment request and "just taken" come from the outbox after a
# /rent or /status too (a confirm that waited for the wallet to be linked) but are the
# confirm's own reply when the wallet was linked already.
NOTICES = [CREDENTIALS, RECEIPT, PRIVATE_KEY, *_templates("notify.", "connect.linked")]
NOTICES_AFTER_A_MESSAGE = [
    *NOTICES,
    *_templates("pay.requested", "pay.taken", "pay.withdrawn", "pay.confirm_failed"),
]


class WebhookChat:
    """Renters' updates posted to the processes' webhooks; each returns the bot's reply."""

    def __init__(self, standin: StandIn, services: list[ServiceProcess]) -> None:
        self.services = services
        self.http: aiohttp.ClientSession | None = None
        self.turn = itertools.cycle(range(len(services)))
        self.update_ids, self.message_ids, self.query_ids = (itertools.count(1) for _ in "abc")
        # chat -> the reply its command waits for, and the texts that are not that reply
        self.waiting: dict[int, tuple[asyncio.Future[Call], list[re.Pattern[str]]]] = {}
        self.refused = 0  # posts answered 503 (the admission line full) and posted again
        self.unanswered = 0
        secret = webhook_secret(Settings(_env_file=None, telegram_token=SecretStr(TOKEN)))
        self.headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        self._listen(standin)

    def _listen(self, standin: StandIn) -> None:
        """Every Bot API call the stand-in records answers the chat's waiting command."""
        telegram = standin.telegram
        record = telegram.call

        async def call(method: str, params: dict, files: dict) -> tuple[int, dict]:
            answer = await record(method, params, files)
            # ``record`` never awaits for these: the last call recorded is this one
            if method != "getUpdates" and method != "answerCallbackQuery":
                sent = telegram.calls[-1]
                reply, notices = self.waiting.get(sent.chat_id or 0, (None, []))
                if reply and not reply.done() and not any(p.search(sent.text) for p in notices):
                    reply.set_result(sent)
            return answer

        telegram.call = call  # type: ignore[method-assign]

    async def send(self, user: TgUser, text: str) -> list[Call]:
        message = message_json(next(self.message_ids), int(time.time()), user.id, user, text)
        return await self._post(user, {"message": message}, NOTICES_AFTER_A_MESSAGE)

    async def press_data(self, user: TgUser, sent: Call, data: str) -> list[Call]:
        query = callback_query_json(next(self.query_ids) * 7919, user, sent, data)
        return await self._post(user, {"callback_query": query}, NOTICES)

    async def _post(self, user: TgUser, update: dict, notices: list[re.Pattern[str]]) -> list[Call]:
        reply: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        self.waiting[user.id] = (reply, notices)
        update = {"update_id": next(self.update_ids), **update}
        try:
            while True:
                url = self.services[next(self.turn)].url + WEBHOOK
                async with self.http.post(url, json=update, headers=self.headers) as resp:
                    if resp.status == 200:
                        break
                    if resp.status != 503:
                        raise RuntimeError(f"webhook answered {resp.status}: {await resp.text()}")
                self.refused += 1
                await asyncio.sleep(0.1)
            return [await asyncio.wait_for(reply, REPLY_WITHIN_S)]
        except TimeoutError:
            self.unanswered += 1
            return []
        finally:
            if self.waiting.get(user.id, (None,))[0] is reply:
                del self.waiting[user.id]


async def run(ramp: list[int], step_s: float, providers: int) -> dict:
    rng = random.Random(11)
    users = renter_users(max(ramp))
    schema = f"bench_load2_{secrets.token_hex(4)}"
    await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{schema}"')
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()  # FSM states and rate limits of an earlier run's renters
    await redis.aclose()
    standin = await StandIn().start()
    with running_anvil() as url, tempfile.TemporaryDirectory(prefix="bench-load2-") as tmp:
        chain = await SystemChain.deploy(url, "load")
        # user ids are given in order: the simulated providers first, then the renters
        await chain.fund_users(range(1, providers + len(users) + 20), 10_000 * USDC)
        env = harness.service_env(
            chain,
            standin,
            DATABASE_URL=PG_URL,
            DATABASE_SCHEMA=schema,
            REDIS_URL=REDIS_URL,
            TELEGRAM_WEBHOOK="true",
            KEEPER_INTERVAL_S="2",
            LOG_LEVEL="WARNING",
        )
        market = await Market.open(Path(tmp), chain, env)  # migrates the schema once
        ok = False
        try:
            result = await _load(market, chain, standin, users, ramp, step_s, providers, rng)
            ok = True
            return result
        finally:
            await market.close(failed=not ok)  # after a failure: the processes' logs
            await chain.close()
            await standin.stop()
            await asyncio.to_thread(pg_drop_schema, schema)


async def _running(market: Market) -> list[tuple[str, int]]:
    """(Telegram user id, rental id) of every rental that is active or about to be."""
    r, u = tables.rentals.c, tables.users.c
    live = (S.AWAITING_PAYMENT, S.FUNDED, S.PROVISIONING, S.ACTIVE)
    q = (
        select(u.external_id, r.id)
        .select_from(tables.rentals.join(tables.users, u.id == r.renter_id))
        .where(r.state.in_([s.value for s in live]))
    )
    async with market.db.read.connect() as conn:
        return [(who, rid) for who, rid in (await conn.execute(q)).all()]


async def _load(market, chain, standin, users, ramp, step_s, providers, rng) -> dict:
    services = [
        market.service(
            name,
            free_port(),
            PUBLIC_URL="https://127.0.0.1:8443",  # Telegram posts to https; we post directly
            SIMULATED_PROVIDERS=str(providers if name == "a" else 0),
        )
        for name in "ab"
    ]
    services[0].start()
    await services[0].wait_ready(300)  # seeds the simulated providers once
    services[1].start()
    await services[1].wait_ready(120)
    chat = WebhookChat(standin, services)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as chat.http:
        # every renter says /start first: both processes warm when the load begins
        await asyncio.gather(*(chat.send(user, "/start") for user in users))
        chat.refused = chat.unanswered = 0
        load = Load(chat, rng, time.monotonic() + len(ramp) * step_s)
        marks = {"refused": 0}

        def step_started() -> None:
            marks["refused"] = chat.refused

        def step_queueing() -> str:
            return f"{chat.refused - marks['refused']} posts refused with 503 and posted again"

        started = time.perf_counter()
        steps = await run_ramp(load, users, ramp, step_s, step_started, step_queueing)
        elapsed = time.perf_counter() - started
        gate = asyncio.Semaphore(32)

        async def stop(user: TgUser) -> None:  # wind down: whatever still runs is stopped
            async with gate:
                await chat.send(user, "/stop")

        await asyncio.gather(*(stop(user) for user in users))
        # a rental still being paid for when its renter's /stop came (it was not active yet),
        # or one of a renter's several, still runs: stop each by its number
        by_id = {user.id: user for user in users}
        for _ in range(3):
            await asyncio.sleep(5)
            live = await _running(market)
            if not live:
                break
            await asyncio.gather(
                *(
                    chat.send(by_id[int(who)], f"/stop {rid}")
                    for who, rid in live
                    if int(who) in by_id
                )
            )
    try:
        await quiesce(market.db, 180)
        left = ""
    except AssertionError:
        left = f"; still outstanding after 180 s: {await outstanding(market.db)}"
    result = await _check(market, chain)
    result.update(
        elapsed=elapsed,
        latency=load.latency,
        errors={**load.errors, "unanswered": chat.unanswered},
        steps=steps,
        by_step=load.by_step,
        queueing=f"{chat.refused} posts refused with 503 and posted again, "
        f"{chat.unanswered} commands unanswered within {REPLY_WITHIN_S:.0f} s{left}",
    )
    for s in services:
        s.stop()
    return result


async def _check(market: Market, chain: SystemChain) -> dict:
    rentals = await all_rentals(market.app)
    books = rental_books(rentals)
    problems = await reconcile(market.db, chain, {})  # the agents are simulated: no state files
    o = tables.outbox.c
    async with market.db.read.connect() as conn:
        kinds = dict((await conn.execute(select(o.kind, func.count()).group_by(o.kind))).all())
    return {
        "rentals": books.rentals,
        "settled": books.settled,
        "double": len(books.double),
        "stuck": books.stuck,
        "bad_split": books.bad_split,
        "problems": problems,
        "states": dict(Counter(str(r.state) for r in rentals)),
        "started": sum(1 for r in rentals if r.started_at is not None),
        "notices": kinds,
        "why_cancelled": dict(Counter(r.cancel_reason for r in rentals if r.state == "cancelled")),
        "conserved": "the database reconciled with the escrow contract"
        if not problems
        else f"{len(problems)} disagreements with the escrow contract",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ramp", default="50,150,300,600", help="renters active per step")
    ap.add_argument("--step-s", type=float, default=45.0, help="seconds per ramp step")
    ap.add_argument("--providers", type=int, default=200)
    ap.add_argument(
        "--write",
        action="store_true",
        help="replace this configuration's rows in docs/benchmarks.md (the others stay)",
    )
    args = ap.parse_args()
    ramp = [int(n) for n in args.ramp.split(",")]
    r = asyncio.run(run(ramp, args.step_s, args.providers))
    total = sum(len(v) for v in r["latency"].values())
    print(
        f"{max(ramp)} renters, {args.providers} providers, {r['elapsed']:.0f} s: {total} "
        f"commands ({total / r['elapsed']:.0f}/s), {r['rentals']} rentals, {r['settled']} "
        f"settled; double bookings {r['double']}, stuck {len(r['stuck'])}, bad splits "
        f"{len(r['bad_split'])}, {r['conserved']}; {r['errors']}"
    )
    print(f"{r['started']} rentals started; by state at the end: {r['states']}")
    print(f"why cancelled: {r['why_cancelled']}; notifications: {r['notices']}")
    print_latencies(r)
    print(r["queueing"])
    if r["stuck"] or r["double"] or r["bad_split"] or r["problems"]:
        print("CHECK FAILED:", r["stuck"][:10], r["bad_split"][:10], *r["problems"][:20])
    publish(CONFIG, r, CMD, args)


if __name__ == "__main__":
    main()
