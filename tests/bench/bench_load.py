"""Load test: 1,000 renters and 200 providers through the Telegram front end for minutes.

    python -m tests.bench.bench_load [--minutes 5] [--renters 1000] [--providers 200] [--write]

The service is built by the production bootstrap on a SQLite file (``--database`` for
PostgreSQL) with the in-memory escrow (every deposit, payout, fee and refund is booked in
its ledger), auto-approving development wallets and simulated agents that grant at once.
Every renter is a Telegram user whose updates go through aiogram's Dispatcher with the real
routers, middlewares and handlers; notifications go out through the real outbox sender. A
renter loops: look at /gpus, /rent a GPU, press Confirm, check /status, sometimes /extend,
/stop after a while, /rate — with think times in between. Providers' agents heartbeat every
15 s and the keeper runs every 2 s, as in ``rigshare run``.

When the time is up every live rental is stopped and the keeper drains; then the run is
checked: no listing was ever rented twice at once, no rental is stuck in a paying or running
state, every settlement splits its deposit exactly, and the escrow's ledger still holds
every micro-USDC minted. Latency per command (p50/p99) goes to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections import defaultdict

from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.settings import Settings
from bot.system import SystemClock
from core.domain.billing import billed, platform_fee
from core.domain.rentals import RentalState as S
from rigshare_dev.fakes.escrow import FAKE_CONTRACT
from tests.bench.report import percentile, row, write_section
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import Harness, TgUser
from tests.support import add_provider, heartbeat

CMD = "python -m tests.bench.bench_load"
GPUS = ["rtx4090", "rtx3090", "h100", "l4", "a100-80gb"]
WORDS = {"rtx4090": "4090", "rtx3090": "3090", "h100": "h100", "l4": "l4", "a100-80gb": "a100-80gb"}
TERMINAL = {S.SETTLED, S.CANCELLED, S.RESOLVED, S.QUOTED}


class Load:
    def __init__(self, tg: Harness, rng: random.Random, deadline: float) -> None:
        self.tg, self.rng, self.deadline = tg, rng, deadline
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    async def cmd(self, kind: str, user: TgUser, text: str | None = None, press=None):
        t0 = time.perf_counter()
        if press is not None:
            calls = await self.tg.press_data(user, *press)
        else:
            calls = await self.tg.send(user, text)
        self.latency[kind].append(time.perf_counter() - t0)
        mine = [c for c in calls if c.chat_id == user.id and c.method != "answerCallbackQuery"]
        return mine[0] if mine else None

    async def think(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))

    async def renter(self, user: TgUser) -> None:
        await self.think(0, 10)  # renters arrive over the first seconds
        while time.monotonic() < self.deadline:
            gpu = WORDS[self.rng.choice(GPUS)]
            if self.rng.random() < 0.6:
                await self.cmd(
                    "/gpus", user, f"/gpus {gpu}" if self.rng.random() < 0.5 else "/gpus"
                )
                await self.think(1, 4)
            quote = await self.cmd("/rent", user, f"/rent {gpu} {self.rng.randint(1, 6)}h")
            confirm = _data(quote, "r:confirm:")
            if confirm is None:  # no offer right now: look again later
                self.errors["no offer"] += 1
                await self.think(3, 8)
                continue
            await self.think(0.5, 2)
            await self.cmd("confirm", user, press=(quote, confirm))
            await self.think(5, 15)
            await self.cmd("/status", user, "/status")
            if self.rng.random() < 0.2:
                await self.cmd("/extend", user, "/extend 1h")
            await self.think(10, 40)
            await self.cmd("/stop", user, "/stop")
            await self.think(1, 3)
            await self.cmd("/rate", user, f"/rate {self.rng.randint(3, 5)}")
            await self.think(2, 10)


def _data(sent, prefix: str) -> str | None:
    if sent is None:
        return None
    found = [b.get("callback_data", "") for b in sent.buttons()]
    return next((d for d in found if d.startswith(prefix)), None)


async def _forever(step, every: float) -> None:
    while True:
        try:
            await step()
        except Exception as exc:  # noqa: BLE001 - a benchmark keeps going and reports
            print(f"background step failed: {exc!r}")
        await asyncio.sleep(every)


async def run(minutes: float, renters: int, providers: int, database_url: str) -> dict:
    rng = random.Random(11)
    settings = Settings(
        _env_file=None, database_url=database_url, chain="fake", telegram_token=SecretStr(TOKEN)
    )
    app = build_app(settings, clock=SystemClock(), auto_approve=True)
    await app.start()
    tg = Harness(app)
    await tg.start()
    machines = []
    for i in range(providers):
        gpus = [GPUS[i % len(GPUS)]] * (1 + i % 2)
        _, machine_id = await add_provider(
            app, f"prov{i}", gpus, 200_000 + rng.randrange(1_800) * 1000
        )
        machines.append((machine_id, gpus))
    seq = {"n": 1}

    async def beats() -> None:
        seq["n"] += 1
        for machine_id, gpus in machines:
            await app.agents.heartbeat(machine_id, heartbeat(gpus, seq["n"]))

    users = [TgUser(50_000 + i, f"renter{i}", "de" if i % 5 == 0 else "en") for i in range(renters)]
    for user in users:
        await tg.send(user, "/start")
    load = Load(tg, rng, time.monotonic() + minutes * 60)
    background = [
        asyncio.create_task(_forever(beats, 15.0)),
        asyncio.create_task(_forever(app.keeper.tick, 2.0)),
        asyncio.create_task(_forever(tg.deliver, 1.0)),
    ]
    started = time.perf_counter()
    await asyncio.gather(*(load.renter(u) for u in users))
    elapsed = time.perf_counter() - started
    for user in users:  # wind down: whatever still runs is stopped
        await tg.send(user, "/stop")
    await tg.deliver()
    for _ in range(10):
        await app.keeper.tick()
        await tg.deliver()
    for task in background:
        task.cancel()
    result = await _check(app)
    result.update(elapsed=elapsed, latency=load.latency, errors=dict(load.errors))
    await tg.close()
    await app.close()
    return result


async def _check(app) -> dict:
    async with app.rentals.uow(readonly=True) as uow:
        rentals = await uow.rentals.in_states(tuple(S), limit=10**7)
    by_listing = defaultdict(list)
    stuck, bad_split = [], []
    for r in rentals:
        if r.state not in TERMINAL:
            stuck.append((r.id, r.state))
        if r.started_at is not None:
            by_listing[r.listing_id].append((r.started_at, r.ended_at or r.started_at, r.id))
        if r.state == S.SETTLED:
            gross = billed(min(r.ended_at, r.paid_until) - r.started_at, r.price_per_hour)
            fee = platform_fee(gross, r.fee_bps)
            if (r.provider_net, r.fee, r.refund) != (gross - fee, fee, r.deposit - gross):
                bad_split.append(r.id)
    double = 0
    for spans in by_listing.values():
        spans.sort()
        double += sum(1 for a, b in zip(spans, spans[1:], strict=False) if b[0] < a[1])
    escrow = app.escrow
    renters = {r.renter_address.lower() for r in rentals if r.renter_address}
    minted = escrow.faucet * sum(1 for a in escrow.balances if a in renters)  # paid: funded
    contract = escrow.balances.get(FAKE_CONTRACT.lower(), 0)
    ledger_ok = sum(escrow.balances.values()) == minted and contract == escrow.fees_accrued
    settled = sum(1 for r in rentals if r.state == S.SETTLED)
    return {
        "rentals": len(rentals),
        "settled": settled,
        "double": double,
        "stuck": stuck,
        "bad_split": bad_split,
        "ledger_ok": ledger_ok and escrow.locked == 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--renters", type=int, default=1000)
    ap.add_argument("--providers", type=int, default=200)
    ap.add_argument("--database", help="DATABASE_URL (default: a fresh SQLite file)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/load.sqlite3"
        r = asyncio.run(run(args.minutes, args.renters, args.providers, url))
    total = sum(len(v) for v in r["latency"].values())
    print(
        f"{args.renters} renters, {args.providers} providers, {r['elapsed']:.0f} s: "
        f"{total} commands ({total / r['elapsed']:.0f}/s), {r['rentals']} rentals, "
        f"{r['settled']} settled; double bookings {r['double']}, stuck {len(r['stuck'])}, "
        f"bad splits {len(r['bad_split'])}, ledger {'ok' if r['ledger_ok'] else 'BROKEN'}; "
        f"{r['errors']}"
    )
    rows = [
        row(
            f"{args.renters} renters + {args.providers} providers for {r['elapsed'] / 60:.1f} min "
            "(Telegram dispatcher, SQLite)",
            "0 double bookings, 0 stuck, every split exact",
            f"{total:,} commands ({total / r['elapsed']:.0f}/s), {r['rentals']:,} rentals, "
            f"{r['settled']:,} settled; {r['double']} double bookings, {len(r['stuck'])} stuck, "
            f"{len(r['bad_split'])} inexact splits, escrow ledger "
            f"{'conserved' if r['ledger_ok'] else 'BROKEN'}",
            CMD,
        )
    ]
    for kind, samples in sorted(r["latency"].items()):
        ms = [s * 1000 for s in samples]
        print(
            f"  {kind:8} n={len(ms):6}  p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms"
        )
        rows.append(
            row(
                f"{kind} latency under that load",
                "recorded",
                f"p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms (n={len(ms):,})",
                CMD,
            )
        )
    if r["stuck"] or r["double"] or r["bad_split"] or not r["ledger_ok"]:
        print("CHECK FAILED:", r["stuck"][:10], r["bad_split"][:10])
    if args.write:
        write_section("Load test", rows)


if __name__ == "__main__":
    main()
