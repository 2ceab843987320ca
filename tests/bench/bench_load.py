"""Load test: renters and providers through the Telegram front end, optionally ramped.

    python -m tests.bench.bench_load [--minutes 5] [--renters 1000] [--providers 200]
    python -m tests.bench.bench_load --ramp 50,150,300,600 --step-s 45 [--database URL] [--write]

The service is built by the production bootstrap on a SQLite file (``--database`` names a
PostgreSQL server instead: the run gets a schema of its own there) with the in-memory escrow
(every deposit, payout, fee and refund is booked in its ledger), auto-approving development
wallets and simulated agents that grant at once. Every renter is a Telegram user whose updates
go through aiogram's Dispatcher with the real routers, middlewares and handlers; notifications
go out through the real outbox sender, and every Bot API call lets the event loop turn as a
request to Telegram would. A renter loops: look at /gpus, /rent a GPU, press Confirm, check
/status, sometimes /extend, /stop after a while, /rate — with think times in between. Each
provider's agent heartbeats every 15 s on its own timer through the agent API's group commit,
and the keeper runs every 2 s, as in ``rigshare run``. The load generator shares the process.

With ``--ramp``, each step runs that many renters for ``--step-s`` seconds; latency per
command (p50/p99) is recorded per step, and the capacity is the highest step whose p99 stays
within 1 s for every command. When the time is up every live rental is stopped and the keeper
drains; then the run is checked: no listing was ever rented twice at once, no rental is stuck
in a paying or running state, every settlement splits its deposit exactly, and the escrow's
ledger still holds every micro-USDC minted. ``--write`` replaces this configuration's rows
(1 process on SQLite or on PostgreSQL) in docs/benchmarks.md's "Load test" section.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import secrets
import tempfile
import time
from collections import defaultdict

from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.settings import Settings
from bot.system import SystemClock
from core.domain.reliability import HEARTBEAT_INTERVAL as BEAT_S
from core.domain.rentals import RentalState as S
from core.runtime import tune_gc_for_serving
from core.services.heartbeat_batch import HeartbeatBatcher
from tests.bench.report import percentile, row, section_rows, write_section
from tests.books import audit
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import Harness, TgUser
from tests.support import add_provider, heartbeat, pg_exec

CMD = "python -m tests.bench.bench_load"
GPUS = ["rtx4090", "rtx3090", "h100", "l4", "a100-80gb"]
WORDS = {"rtx4090": "4090", "rtx3090": "3090", "h100": "h100", "l4": "l4", "a100-80gb": "a100-80gb"}
TERMINAL = {S.SETTLED, S.CANCELLED, S.RESOLVED, S.QUOTED}


class Load:
    def __init__(self, tg: Harness, rng: random.Random, deadline: float) -> None:
        self.tg, self.rng, self.deadline = tg, rng, deadline
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.step = 0  # the ramp's step the commands are counted for (when they were sent)
        self.active = 10**9  # renters numbered from here on finish their round and leave
        self.by_step: dict[tuple[int, str], list[float]] = defaultdict(list)

    async def cmd(self, kind: str, user: TgUser, text: str | None = None, press=None):
        step, t0 = self.step, time.perf_counter()
        try:
            if press is not None:
                calls = await self.tg.press_data(user, *press)
            else:
                calls = await self.tg.send(user, text)
        except Exception as exc:  # noqa: BLE001 - a failed update is counted, the load goes on
            self.errors[f"{kind} failed: {exc.__class__.__name__}"] += 1
            return None
        self.latency[kind].append(time.perf_counter() - t0)
        self.by_step[(step, kind)].append(time.perf_counter() - t0)
        mine = [c for c in calls if c.chat_id == user.id and c.method != "answerCallbackQuery"]
        return mine[0] if mine else None

    async def think(self, low: float, high: float) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))

    async def renter(self, user: TgUser, number: int = 0, arrive_s: float = 10) -> None:
        await self.think(0, arrive_s)  # renters arrive over the first seconds
        while time.monotonic() < self.deadline and number < self.active:
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


async def _token_hash(app, machine_id: int) -> str:
    async with app.uow(readonly=True) as uow:
        return (await uow.machines.get(machine_id)).agent_token_hash


async def _agent(batcher: HeartbeatBatcher, token_hash: str, gpus: list[str], phase_s: float):
    """One provider agent: a heartbeat every HEARTBEAT_INTERVAL seconds on its own timer, through the
    agent API's group commit (``HeartbeatBatcher``), as ``POST /agent/v1/heartbeat`` does.
    (Beating all machines in one loop of ``AgentService.heartbeat`` calls would run 200
    write transactions without the event loop ever turning: SQLite runs inline.)"""
    await asyncio.sleep(phase_s)
    seq = 1
    while True:
        seq += 1
        try:
            await batcher.submit(token_hash, heartbeat(gpus, seq))
        except Exception as exc:  # noqa: BLE001 - a benchmark keeps going and reports
            print(f"heartbeat failed: {exc!r}")
        await asyncio.sleep(BEAT_S)


def _over_the_network(tg: Harness) -> None:
    """Every Bot API call lets the event loop turn, as a request to Telegram does: the
    recording session answers at once, so the outbox sender would otherwise send a whole
    batch (two write transactions a message) while every chat update waits."""
    session = tg.bot.session
    recorded = session.make_request

    async def networked(*args, **kwargs):
        await asyncio.sleep(0)
        return await recorded(*args, **kwargs)

    session.make_request = networked  # type: ignore[method-assign]


async def _forever(step, every: float) -> None:
    while True:
        try:
            await step()
        except Exception as exc:  # noqa: BLE001 - a benchmark keeps going and reports
            print(f"background step failed: {exc!r}")
        await asyncio.sleep(every)


async def run(
    minutes: float,
    renters: int,
    providers: int,
    database_url: str,
    ramp: list[int] | None = None,
    step_s: float = 60.0,
    schema: str | None = None,
) -> dict:
    """The load for ``minutes`` with all ``renters``, or with ``ramp``: that many renters
    active in each step of ``step_s`` seconds (more arrive at a step's start; beyond the
    step's number, renters finish their round and leave)."""
    rng = random.Random(11)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        database_schema=schema,
        chain="fake",
        telegram_token=SecretStr(TOKEN),
    )
    app = build_app(settings, clock=SystemClock(), auto_approve=True)
    await app.start()
    tg = Harness(app)
    _over_the_network(tg)
    await tg.start()
    machines = []
    for i in range(providers):
        gpus = [GPUS[i % len(GPUS)]] * (1 + i % 2)
        _, machine_id = await add_provider(
            app, f"prov{i}", gpus, 200_000 + rng.randrange(1_800) * 1000
        )
        machines.append((machine_id, gpus))
    batcher = HeartbeatBatcher(app.agents)
    agents = [
        _agent(batcher, await _token_hash(app, machine_id), gpus, rng.uniform(0, BEAT_S))
        for machine_id, gpus in machines
    ]

    renters = max(ramp) if ramp else renters
    users = [TgUser(50_000 + i, f"renter{i}", "de" if i % 5 == 0 else "en") for i in range(renters)]
    # every renter says /start, as many at once as the admission control lets in: the
    # process is warm when the load begins (on PostgreSQL: the pool's connections opened)
    await asyncio.gather(*(tg.send(user, "/start") for user in users))
    app.admission.peak_in_flight = app.admission.peak_waiting = 0  # the load's peaks from here
    seconds = len(ramp) * step_s if ramp else minutes * 60
    load = Load(tg, rng, time.monotonic() + seconds)
    tune_gc_for_serving()  # as every serving process does once started
    background = [
        *(asyncio.create_task(agent) for agent in agents),
        asyncio.create_task(_forever(app.keeper.tick, 2.0)),
        asyncio.create_task(_forever(tg.deliver, 1.0)),
    ]
    started = time.perf_counter()
    # (renters, commands answered per second, most updates waiting for admission at once)
    steps: list[tuple[int, float, int]] = []
    if not ramp:
        await asyncio.gather(*(load.renter(u) for u in users))
    else:
        tasks: list[asyncio.Task] = []
        for k, active in enumerate(ramp):
            load.step, load.active = k, active
            app.admission.peak_waiting = app.admission.waiting  # this step's peak from here
            done = sum(len(v) for v in load.latency.values())
            t0 = time.perf_counter()
            while len(tasks) < active:
                n = len(tasks)
                tasks.append(asyncio.create_task(load.renter(users[n], n, min(10, step_s / 3))))
            await asyncio.sleep(step_s)
            answered = sum(len(v) for v in load.latency.values()) - done
            rate = answered / (time.perf_counter() - t0)
            steps.append((active, rate, app.admission.peak_waiting))
            print(f"step {k}: {active} renters, {steps[-1][1]:.1f} commands/s answered")
        await asyncio.gather(*tasks)
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
    result.update(
        elapsed=elapsed,
        latency=load.latency,
        errors=dict(load.errors),
        steps=steps,
        by_step=load.by_step,
        admission=(app.admission.peak_in_flight, app.admission.peak_waiting),
    )
    await tg.close()
    await app.close()
    return result


async def _check(app) -> dict:
    books = await audit(app)
    return {
        "rentals": books.rentals,
        "settled": books.settled,
        "double": len(books.double),
        "stuck": books.stuck
        + [(i, f"{s} in the DB, {e} in the escrow") for i, s, e in books.disagree],
        "bad_split": books.bad_split,
        "ledger_ok": books.ledger_ok,
    }


CONFIGS = ("1 process, SQLite", "1 process, PostgreSQL")  # in the order of the doc's rows
GOAL_MS = 1000.0  # below capacity, p99 of every command stays within this


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--renters", type=int, default=1000)
    ap.add_argument("--providers", type=int, default=200)
    ap.add_argument(
        "--database",
        help="a PostgreSQL URL (e.g. postgresql://127.0.0.1:5432/test): the run gets a schema "
        "of its own there, dropped afterwards (default: a fresh SQLite file)",
    )
    ap.add_argument("--ramp", help="renters active per step, e.g. 50,150,300,600")
    ap.add_argument("--step-s", type=float, default=60.0, help="seconds per ramp step")
    ap.add_argument(
        "--write",
        action="store_true",
        help="with --ramp: replace this configuration's rows in docs/benchmarks.md "
        "(capacity and one row per step; the other configurations' rows stay)",
    )
    args = ap.parse_args()
    ramp = [int(n) for n in args.ramp.split(",")] if args.ramp else None
    if args.write and not ramp:
        ap.error("--write records a ramped run: give --ramp")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/load.sqlite3"
        schema = None
        if url.startswith("postgres"):
            schema = f"bench_load_{secrets.token_hex(4)}"
            pg_exec(f'CREATE SCHEMA "{schema}"', url)
        try:
            r = asyncio.run(
                run(args.minutes, args.renters, args.providers, url, ramp, args.step_s, schema)
            )
        finally:
            if schema:
                pg_exec(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', url)
    config = CONFIGS[1] if url.startswith("postgres") else CONFIGS[0]
    if ramp:
        args.renters = max(ramp)
    total = sum(len(v) for v in r["latency"].values())
    print(
        f"{args.renters} renters, {args.providers} providers, {r['elapsed']:.0f} s: "
        f"{total} commands ({total / r['elapsed']:.0f}/s), {r['rentals']} rentals, "
        f"{r['settled']} settled; double bookings {r['double']}, stuck {len(r['stuck'])}, "
        f"bad splits {len(r['bad_split'])}, ledger {'ok' if r['ledger_ok'] else 'BROKEN'}; "
        f"{r['errors']}"
    )
    for kind, samples in sorted(r["latency"].items()):
        ms = [x * 1000 for x in samples]
        print(
            f"  {kind:8} n={len(ms):6}  p50 {percentile(ms, 50):7.1f} ms  "
            f"p99 {percentile(ms, 99):7.1f} ms"
        )
    print(f"admission: peak {r['admission'][0]} in flight, {r['admission'][1]} waiting")
    if r["stuck"] or r["double"] or r["bad_split"] or not r["ledger_ok"]:
        print("CHECK FAILED:", r["stuck"][:10], r["bad_split"][:10])
    if not ramp:
        return
    cmd = f"{CMD} --ramp {args.ramp} --step-s {args.step_s:g}"
    cmd += f" --providers {args.providers}" if args.providers != 200 else ""
    cmd += " --database $PG" if schema else ""
    rows = ramp_rows(config, r, cmd)
    for line in rows:
        print(line)
    if args.write:
        write_ramp(config, rows)


def ramp_rows(config: str, r: dict, cmd: str) -> list[str]:
    """This configuration's rows: its capacity (the last step before the first whose p99
    goes over GOAL_MS for some command), one row per step, and the checks of the run."""
    steps = _steps(r)
    within = list(itertools.takewhile(lambda step: step[2] <= GOAL_MS, steps))
    capacity = (
        f"{within[-1][0]} renters ({within[-1][1]:.1f} commands/s answered)"
        if within
        else f"below {steps[0][0]} renters (the first step's p99 is over {GOAL_MS:.0f} ms)"
    )
    if len(within) == len(steps):
        capacity = f"at least {capacity}: no step went over"
    rows = [row(f"{config}: capacity", f"p99 <= {GOAL_MS:.0f} ms for every command", capacity, cmd)]
    for k, (active, rate, worst, parts, waiting) in enumerate(steps):
        above = k >= len(within)
        rows.append(
            row(
                f"{config}: step {k + 1}, {active} renters, {rate:.1f} commands/s answered",
                "bounded queueing (above capacity)" if above else f"p99 <= {GOAL_MS:.0f} ms",
                f"p50/p99 ms: {', '.join(parts)} (worst p99 {worst:.0f} ms); at most "
                f"{waiting} updates waiting for admission",
                cmd,
            )
        )
    peak, waiting = r["admission"]
    rows.append(
        row(
            f"{config}: the whole ramped run",
            "0 double bookings, 0 stuck, every split exact, escrow conserved",
            f"{sum(len(v) for v in r['latency'].values()):,} commands, {r['rentals']:,} "
            f"rentals, {r['settled']:,} settled; {r['double']} double bookings, "
            f"{len(r['stuck'])} stuck, {len(r['bad_split'])} inexact splits, escrow ledger "
            f"{'conserved' if r['ledger_ok'] else 'BROKEN'}; at most {peak} updates in "
            f"flight, {waiting} waiting",
            cmd,
        )
    )
    return rows


def _steps(r: dict) -> list[tuple[int, float, float, list[str], int]]:
    """Per step: renters, commands answered per second, worst p99 (ms), "kind p50/p99",
    most updates waiting for admission."""
    out = []
    for k, (active, rate, waiting) in enumerate(r["steps"]):
        parts, worst = [], 0.0
        for kind in sorted({kind for step, kind in r["by_step"] if step == k}):
            ms = [x * 1000 for x in r["by_step"][(k, kind)]]
            worst = max(worst, percentile(ms, 99))
            parts.append(f"{kind} {percentile(ms, 50):.0f}/{percentile(ms, 99):.0f}")
        out.append((active, rate, worst, parts, waiting))
    return out


def write_ramp(config: str, rows: list[str]) -> None:
    """The Load test section with this configuration's rows replaced; the rows of the
    other configurations stay, in CONFIGS order (rows of no configuration are dropped)."""
    kept = {c: [x for x in section_rows("Load test") if x.startswith(f"| {c}: ")] for c in CONFIGS}
    kept[config] = rows
    write_section(
        "Load test",
        [x for c in CONFIGS for x in kept[c]],
        "Ramped arrivals: each step runs that many Telegram renters (1-40 s think times: "
        "/gpus, /rent, Confirm, /status, /extend, /stop, /rate) for the step's seconds against "
        "200 providers whose agents beat every 15 s through the agent API's group commit; "
        "commands are counted for the step in which they were sent. Capacity is the highest "
        f"step whose p99 stays within {GOAL_MS:.0f} ms for every command. One process: the "
        "Telegram dispatcher fed in-process with the in-memory escrow; the load generator "
        "shares the process and its cores with the service. Admission control holds 16 "
        "updates in flight per process.",
    )


if __name__ == "__main__":
    main()
