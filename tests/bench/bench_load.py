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
import random
import secrets
import tempfile
import time

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.bootstrap import build_app
from bot.settings import Settings
from bot.system import SystemClock
from core.domain.reliability import HEARTBEAT_INTERVAL as BEAT_S
from core.runtime import tune_gc_for_serving
from core.services.heartbeat_batch import HeartbeatBatcher
from tests.bench.load_ramp import (
    CONFIGS,
    GPUS,
    Load,
    print_latencies,
    publish,
    renter_users,
    run_ramp,
)
from tests.books import audit
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import Harness
from tests.support import add_provider, heartbeat, pg_exec

CMD = "python -m tests.bench.bench_load"


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
    users = renter_users(renters)
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
    steps: list[tuple[int, float, str]] = []
    if not ramp:
        await asyncio.gather(*(load.renter(u) for u in users))
    else:

        def step_started() -> None:  # this step's peak from here
            app.admission.peak_waiting = app.admission.waiting

        def step_queueing() -> str:
            return f"at most {app.admission.peak_waiting} updates waiting for admission"

        steps = await run_ramp(load, users, ramp, step_s, step_started, step_queueing)
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
        queueing=f"at most {app.admission.peak_in_flight} updates in flight, "
        f"{app.admission.peak_waiting} waiting",
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
        "conserved": f"escrow ledger {'conserved' if books.ledger_ok else 'BROKEN'}",
    }


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
    print_latencies(r)
    print(r["queueing"])
    if r["stuck"] or r["double"] or r["bad_split"] or not r["ledger_ok"]:
        print("CHECK FAILED:", r["stuck"][:10], r["bad_split"][:10])
    if not ramp:
        return
    cmd = CMD
    if schema:  # the database as given, a password hidden
        cmd += f" --database {make_url(args.database).render_as_string(hide_password=True)}"
    publish(config, r, cmd, args)


if __name__ == "__main__":
    main()
