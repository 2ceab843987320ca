"""The load test's renters, its ramp and its report, shared by its configurations.

``bench_load`` feeds one process in-process (SQLite or PostgreSQL, the in-memory escrow);
``bench_load_scaleout`` posts webhook updates to two ``rigshare run`` processes on
PostgreSQL + Redis against the escrow contract on anvil. Both play the same renters
(``Load``) through the same ramp (``run_ramp``) and write their rows into the same section of
docs/benchmarks.md, each configuration replacing only its own rows (``write_ramp``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from tests.bench.report import percentile, row, section_rows, write_section
from tests.bot.telegram.fake_telegram import Call
from tests.bot.telegram.support import TgUser

GPUS = ["rtx4090", "rtx3090", "h100", "l4", "a100-80gb"]
WORDS = {"rtx4090": "4090", "rtx3090": "3090", "h100": "h100", "l4": "l4", "a100-80gb": "a100-80gb"}
# in the order of the doc's rows
CONFIGS = ("1 process, SQLite", "1 process, PostgreSQL", "2 processes, PostgreSQL + Redis")
GOAL_MS = 1000.0  # below capacity, p99 of every command stays within this


class Chat(Protocol):
    """How a renter's updates reach the service: the Bot API calls each one caused."""

    async def send(self, user: TgUser, text: str) -> list[Call]: ...

    async def press_data(self, user: TgUser, sent: Call, data: str) -> list[Call]: ...


class Load:
    def __init__(self, tg: Chat, rng: random.Random, deadline: float) -> None:
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


def renter_users(count: int) -> list[TgUser]:
    return [TgUser(50_000 + i, f"renter{i}", "de" if i % 5 == 0 else "en") for i in range(count)]


async def run_ramp(
    load: Load,
    users: list[TgUser],
    ramp: list[int],
    step_s: float,
    step_started: Callable[[], None],
    step_queueing: Callable[[], str],
) -> list[tuple[int, float, str]]:
    """Each step: that many renters active for ``step_s`` seconds (more arrive at a step's
    start; beyond the step's number, renters finish their round and leave). Per step:
    (renters, commands answered per second, how updates queued: ``step_queueing()`` at the
    step's end, ``step_started()`` at its start)."""
    steps: list[tuple[int, float, str]] = []
    tasks: list[asyncio.Task] = []
    for k, active in enumerate(ramp):
        load.step, load.active = k, active
        step_started()
        done = sum(len(v) for v in load.latency.values())
        t0 = time.perf_counter()
        while len(tasks) < active:
            n = len(tasks)
            tasks.append(asyncio.create_task(load.renter(users[n], n, min(10, step_s / 3))))
        await asyncio.sleep(step_s)
        answered = sum(len(v) for v in load.latency.values()) - done
        steps.append((active, answered / (time.perf_counter() - t0), step_queueing()))
        print(f"step {k}: {active} renters, {steps[-1][1]:.1f} commands/s answered")
    await asyncio.gather(*tasks)
    return steps


def print_latencies(r: dict) -> None:
    for kind, samples in sorted(r["latency"].items()):
        ms = [x * 1000 for x in samples]
        print(
            f"  {kind:8} n={len(ms):6}  p50 {percentile(ms, 50):7.1f} ms  "
            f"p99 {percentile(ms, 99):7.1f} ms"
        )


def ramp_rows(config: str, r: dict, cmd: str) -> list[str]:
    """This configuration's rows: its capacity (the last step before the first whose p99
    goes over GOAL_MS for some command), one row per step, and the checks of the run.
    ``r``: steps (renters, rate, queueing), by_step latencies, latency, rentals, settled,
    double, stuck, bad_split, conserved (the escrow's books, in words), queueing."""
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
    for k, (active, rate, worst, parts, queueing) in enumerate(steps):
        above = k >= len(within)
        rows.append(
            row(
                f"{config}: step {k + 1}, {active} renters, {rate:.1f} commands/s answered",
                "bounded queueing (above capacity)" if above else f"p99 <= {GOAL_MS:.0f} ms",
                f"p50/p99 ms: {', '.join(parts)} (worst p99 {worst:.0f} ms); {queueing}",
                cmd,
            )
        )
    rows.append(
        row(
            f"{config}: the whole ramped run",
            "0 double bookings, 0 stuck, every split exact, escrow conserved",
            f"{sum(len(v) for v in r['latency'].values()):,} commands, {r['rentals']:,} "
            f"rentals, {r['settled']:,} settled; {r['double']} double bookings, "
            f"{len(r['stuck'])} stuck, {len(r['bad_split'])} inexact splits, {r['conserved']}; "
            f"{r['queueing']}",
            cmd,
        )
    )
    return rows


def _steps(r: dict) -> list[tuple[int, float, float, list[str], str]]:
    """Per step: renters, commands answered per second, worst p99 (ms), "kind p50/p99",
    how updates queued."""
    out = []
    for k, (active, rate, queueing) in enumerate(r["steps"]):
        parts, worst = [], 0.0
        for kind in sorted({kind for step, kind in r["by_step"] if step == k}):
            ms = [x * 1000 for x in r["by_step"][(k, kind)]]
            worst = max(worst, percentile(ms, 99))
            parts.append(f"{kind} {percentile(ms, 50):.0f}/{percentile(ms, 99):.0f}")
        out.append((active, rate, worst, parts, queueing))
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
        "200 providers whose agents beat every 15 s; commands are counted for the step in "
        "which they were sent. Capacity is the highest step whose p99 stays within "
        f"{GOAL_MS:.0f} ms for every command. One process: the Telegram dispatcher fed "
        "in-process with the in-memory escrow, agents beating through the agent API's group "
        "commit; the load generator shares the process and its cores with the service. Two "
        "processes: `rigshare run` in webhook mode on one PostgreSQL schema and Redis, the "
        "updates posted alternately to each over HTTP (a 503 is retried at the other), the "
        "latency counted to the reply's arrival at the Bot API stand-in; the escrow contract "
        "on anvil, the renters' development wallets funded there; one process runs the "
        "simulated agents. Admission control holds 16 updates in flight per process.",
    )


def publish(config: str, r: dict, cmd: str, args: argparse.Namespace) -> None:
    """Print this configuration's rows (``cmd`` with the run's ramp and providers); with
    ``--write`` also put them into docs/benchmarks.md."""
    cmd += f" --ramp {args.ramp} --step-s {args.step_s:g}"
    cmd += f" --providers {args.providers}" if args.providers != 200 else ""
    rows = ramp_rows(config, r, cmd)
    for line in rows:
        print(line)
    if args.write:
        write_ramp(config, rows)
