"""Benchmark: seconds from ``grant()`` to a working SSH login, on a private loopback sshd.

Run as root (it creates rs-* accounts and starts its own sshd, never the system one)::

    .venv/bin/python -m provider_agent.bench_grant_login [-n 50] [--update-doc docs/benchmarks.md]

Prints the machine and one markdown row per access mode; ``--update-doc`` rewrites only the
``## Provider agent`` section of the benchmark document, re-reading it right before writing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import secrets
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from provider_agent.ssh_access import AccessBackend, AccessInfo, SharedAccount
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import generate_keypair
from provider_agent.sshd_harness import PrivateSshd, ensure_user

COMMAND = ".venv/bin/python -m provider_agent.bench_grant_login"
GOAL = "<= 1 s"
SECTION = "## Provider agent"
SHARED_USER = "rstest"


async def _login(access: AccessInfo, key: asyncssh.SSHKey) -> None:
    async with asyncssh.connect(
        access.host,
        port=access.port,
        username=access.username,
        client_keys=[key],
        known_hosts=None,
        agent_path=None,
        config=[],
        preferred_auth="publickey",
    ) as conn:
        await conn.run("true", check=True)


async def measure(backend: AccessBackend, n: int) -> list[float]:
    """Seconds from grant() to the end of a successful login + command, ``n`` times."""
    samples = []
    for _ in range(n):
        pair = generate_keypair("bench")
        key = asyncssh.import_private_key(pair.private_key)
        rental = f"bench{secrets.token_hex(4)}"
        start = time.perf_counter()
        access = await backend.grant(rental, pair.public_key, int(time.time()) + 600)
        deadline = start + 10
        while True:
            try:
                await _login(access, key)
                break
            except asyncssh.PermissionDenied:
                if time.perf_counter() > deadline:
                    raise
                await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - start)
        await backend.cleanup(rental)
    return samples


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def machine() -> str:
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    openssh = (ssh.stderr or ssh.stdout).split(",")[0].strip()
    return (
        f"{cores} cores, {mem_gib:.0f} GiB RAM, {platform.system()} {platform.machine()}, {openssh}"
    )


def row(label: str, samples: list[float], mode: str) -> str:
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    figure = f"{p99:.0f} ms (p50 {p50:.0f} ms, n={len(samples)}, {mode})"
    today = datetime.now(UTC).date().isoformat()
    return f"| {label} | {GOAL} | {figure} | `{COMMAND}` | {today} |"


def section(rows: list[str]) -> str:
    return (
        f"{SECTION}\n\nMachine: {machine()}; private sshd on 127.0.0.1.\n\n"
        "| measure | goal | figure | command | date |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def update_doc(path: Path, text: str) -> None:
    """Replace (or append) only our section; other sections are left byte-for-byte alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = current.find(f"\n{SECTION}\n")
    if start == -1:
        path.write_text(current.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    end = current.find("\n## ", start + 1)
    tail = current[end:] if end != -1 else ""
    path.write_text(current[: start + 1] + text + tail, encoding="utf-8")


async def run(n: int) -> list[str]:
    with PrivateSshd() as sshd:
        home = sshd.dir / "home"
        home.mkdir(mode=0o755)
        per_rental = PerRentalAccounts(
            host=sshd.host,
            port=sshd.port,
            host_key=sshd.host_key_pub,
            keys_dir=sshd.keys_dir,
            home_root=home,
        )
        ensure_user(SHARED_USER)
        shared = SharedAccount(
            SHARED_USER,
            host=sshd.host,
            port=sshd.port,
            host_key=sshd.host_key_pub,
            authorized_keys=sshd.keys_dir / SHARED_USER,
        )
        return [
            row("grant -> working SSH login p99", await measure(per_rental, n), "per-rental"),
            row(
                "grant -> working SSH login p99, shared account", await measure(shared, n), "shared"
            ),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="grants per mode (default 50)")
    parser.add_argument("--update-doc", type=Path, help="rewrite our section of this markdown file")
    args = parser.parse_args()
    rows = asyncio.run(run(args.n))
    text = section(rows)
    print(text)
    if args.update_doc:
        update_doc(args.update_doc, text)


if __name__ == "__main__":
    main()
