"""Instances on a real engine: grant -> working SSH login, removal, eight at once on one host.

Runs the container backend against Debian's dockerd in a private network namespace (the
test harness of ``tests/engine``, images from its loopback registry), with eight fake GPUs.
The image is pulled once before timing (a provider pre-pulls its templates); every grant
then creates the network and container, starts it and the login is a real SSH session that
runs a command. Needs root.

    sudo .venv/bin/python -m tests.bench.bench_instances [--n 30] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from provider_agent.ssh_keys import generate_keypair
from tests.bench.report import percentile, row, write_section
from tests.engine.gpus import make_fake_gpus
from tests.engine.harness import docker_harness
from tests.provider_agent import sshclient
from tests.provider_agent.instance_support import backend, request

CMD = "python -m tests.bench.bench_instances"
GOAL_LOGIN_P99_S = 1.0


async def _login(access, key) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            await sshclient.run(access, key.private_key, "true")
            return
        except (OSError, Exception):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def measure(harness, n: int) -> dict[str, list[float]]:
    key = generate_keypair("bench")
    with tempfile.TemporaryDirectory(prefix="rs-bench-") as tmp:
        gpus = make_fake_gpus(Path(tmp) / "dev", 8)
        eight = replace(
            harness,
            device_dir=gpus.device_dir,
            gpus=tuple((g.uuid, g.minor) for g in gpus.gpus),
        )
        host = backend(eight, Path(tmp) / "agent")
        await host.start()
        try:
            await host._ensure_image(eight.images["base"])  # pre-pulled, as a provider does
            logins, removals = [], []
            expires = int(time.time()) + 3600
            for i in range(n):
                rental = str(1000 + i)
                t0 = time.perf_counter()
                access = await host.grant(
                    rental, key.public_key, expires, request(eight, [eight.gpus[i % 8][0]])
                )
                await _login(access, key)
                logins.append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                await host.cleanup(rental)
                removals.append(time.perf_counter() - t1)

            async def one(i: int) -> float:
                t0 = time.perf_counter()
                access = await host.grant(
                    str(2000 + i), key.public_key, expires, request(eight, [eight.gpus[i][0]])
                )
                await _login(access, key)
                return time.perf_counter() - t0

            t0 = time.perf_counter()
            concurrent = await asyncio.gather(*(one(i) for i in range(8)))
            all_eight = time.perf_counter() - t0
            active = len(await host.active())
            for rental in await host.active():
                await host.cleanup(rental)
        finally:
            await host.close()
    return {
        "logins": logins,
        "removals": removals,
        "concurrent": list(concurrent),
        "all_eight": [all_eight],
        "active": [float(active)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with docker_harness() as harness:
        m = asyncio.run(measure(harness, args.n))
        driver = harness.storage_driver
    logins, removals, concurrent = m["logins"], m["removals"], m["concurrent"]
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    rows = [
        row(
            "grant -> working SSH login into the container, cached image, p99",
            f"<= {GOAL_LOGIN_P99_S:g} s",
            f"{ms(percentile(logins, 99))} (p50 {ms(percentile(logins, 50))}, n={len(logins)})",
            CMD,
        ),
        row(
            "container removal (kill, remove with its writable layer and run directory), p99",
            "recorded",
            f"{ms(percentile(removals, 99))} (p50 {ms(percentile(removals, 50))})",
            CMD,
        ),
        row(
            "eight concurrent rentals on one 8-GPU host: all logged in",
            "recorded",
            f"{ms(m['all_eight'][0])} for all 8 (slowest {ms(max(concurrent))}, "
            f"{int(m['active'][0])} running at once)",
            CMD,
        ),
    ]
    for line in rows:
        print(line)
    if args.write:
        write_section(
            "Provider agent",
            rows,
            f"Debian dockerd 20.10 ({driver} storage) in a private network namespace, fake GPUs, "
            "login with asyncssh into the instance's dropbear.",
        )


if __name__ == "__main__":
    main()
