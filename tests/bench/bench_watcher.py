"""Chain watcher throughput: events applied per second from a backlog of 10,000 escrow events.

    python -m tests.bench.bench_watcher [--rentals 2500] [--write]

Starts anvil (the pinned npm binary) on loopback, deploys MockUSDC and the escrow, writes
``rentals`` rentals awaiting payment into a fresh SQLite database through the production
bootstrap, and drives each through open (renter's EIP-3009 authorization, relayed), start and
a signed Stop with settle: 4 events each, none applied yet. Then one ``ChainWatcher.poll()``
catches up from the deployment block and the time it takes is measured: eth_getLogs in ranges,
decoding, and the rental lifecycle applying the events (transactions of up to 200; state
changes, outbox messages, an SSH key generated for each rental of a renter without a key). Prints the row of
docs/benchmarks.md; ``--write`` also replaces the section there.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from sqlalchemy import func, select

from core.db import tables
from core.domain.rentals import RentalState
from tests.bench.report import row, write_section
from tests.contracts.anvil import running_anvil
from tests.contracts.chain_support import (
    chain_key,
    deploy_on_anvil,
    rentals_of,
    run_on_chain,
    seed_rentals,
)

CMD = "python -m tests.bench.bench_watcher"
CHUNK = 250


async def measure(url: str, n: int, tmp: str) -> tuple[str, float]:
    from bot.bootstrap import build_app

    chain = await deploy_on_anvil(url, "bench")
    app = build_app(chain.settings(tmp))
    await app.start()
    app.agent_gateway.auto_grant = False
    renter = chain_key("bench-renter")
    await chain.fund(renter.address, 10**15)
    escrow = await chain.adapter()
    started = time.perf_counter()
    seeded = await seed_rentals(app, escrow, renter, n)
    for i in range(0, n, CHUNK):
        await run_on_chain(escrow, renter, seeded[i : i + CHUNK])
    blocks = await chain.w3.eth.block_number - chain.deployment.block
    print(
        f"backlog of {4 * n} events in {blocks} blocks built in {time.perf_counter() - started:.0f} s"
    )

    t0 = time.perf_counter()
    handed = await app.watcher.poll()
    elapsed = time.perf_counter() - t0
    async with app.db.read.connect() as conn:
        applied = await conn.scalar(select(func.count()).select_from(tables.chain_events))
    states = {r.state for r in (await rentals_of(app)).values()}
    await app.close()
    await chain.w3.provider.disconnect()
    if applied != 4 * n or handed != 4 * n or states != {RentalState.SETTLED}:
        raise SystemExit(f"expected {4 * n} events applied, got {applied} ({states})")
    rate = applied / elapsed
    figure = (
        f"{rate:,.0f} events/s ({applied:,} events of {n:,} rentals over {blocks:,} blocks "
        f"in {elapsed:.1f} s; every rental settled)"
    )
    return (
        row(
            f"chain watcher: events applied from a backlog of {applied:,}, SQLite, anvil",
            "-",
            figure,
            CMD,
        ),
        rate,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rentals", type=int, default=2500, help="4 events each (default 2,500)")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_anvil() as url:
        line, _ = asyncio.run(measure(url, args.rentals, tmp))
    print(line)
    if args.write:
        write_section(
            "Chain watcher",
            [line],
            "Confirmation depth 0 (the backlog is fully confirmed); ranges of 2,000 blocks; "
            "events applied in transactions of up to 200.",
        )


if __name__ == "__main__":
    main()
