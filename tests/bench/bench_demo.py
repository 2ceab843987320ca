"""The demo's figures: signature -> working SSH login, gas of a whole rental, conservation.

    python -m tests.bench.bench_demo [--runs 5] [--write]

Each run is a full ``rigshare demo`` (development chain, local WalletConnect relay with a
scripted wallet, the real agent daemon, and the rental as a container on Debian's dockerd in
a private network namespace: the test harness of ``tests/engine``, needs root) with its
output discarded; the login time is measured from the moment the renter's wallet sent the
deposit signature to the moment the renter's first SSH command in the container returned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from rigshare_dev.demo.host import DemoEngine
from rigshare_dev.demo.story import run_demo
from tests.bench.report import percentile, row, write_section
from tests.engine.daemons import HarnessError
from tests.engine.harness import docker_harness

CMD = "python -m tests.bench.bench_demo"


async def _runs(n: int, engine: DemoEngine | None) -> list:
    return [await run_demo(lambda _line: None, engine=engine) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    why = None
    with contextlib.ExitStack() as stack:
        engine = None
        try:
            h = stack.enter_context(docker_harness())
            engine = DemoEngine(str(h.socket_path), h.images["base"], h.host_address, h.netns)
        except HarnessError as exc:
            why = str(exc)
        runs = asyncio.run(_runs(args.runs, engine))
    logins = [r.signature_to_login_s for r in runs if r.signature_to_login_s is not None]
    gas = sorted({r.gas for r in runs})
    ok = sum(r.conserved for r in runs)
    rows = []
    if logins:
        fig = f"p50 {percentile(logins, 50):.2f} s, max {max(logins):.2f} s ({len(logins)} runs)"
        print("signature -> SSH login:", fig)
        rows.append(
            row(
                "`rigshare demo`: signature -> working SSH login into the rental's container",
                "<= 3 s",
                fig,
                CMD,
            )
        )
    else:
        print(f"no SSH login measured: {why}")
    print(f"gas per rental: {gas}; money conserved in {ok}/{len(runs)} runs")
    rows.append(
        row(
            "`rigshare demo`: gas of the whole rental (open, start, extend, stop and settle)",
            "recorded",
            f"{gas[0]:,}" if len(gas) == 1 else f"{gas[0]:,}-{gas[-1]:,}",
            CMD,
        )
    )
    rows.append(
        row(
            "`rigshare demo`: money conservation to the micro-USDC",
            "every run",
            f"{ok}/{len(runs)} runs",
            CMD,
        )
    )
    if args.write:
        write_section("Demo", rows)


if __name__ == "__main__":
    main()
