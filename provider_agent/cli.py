"""``rigshare-agent``: the daemon a provider runs on each GPU host.

Today it reads the GPUs (NVML, or ``--simulate``) and prints them with ``--probe``; the
heartbeat loop and the grant/revoke channel connect to the service's agent API, which the
provider-agent issue adds to ``bot/web``. Until then ``--server``/``--token`` are checked and
the agent says plainly that it cannot connect yet instead of pretending to.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from provider_agent.errors import AgentError
from provider_agent.nvml_probe import GpuProbe, NvmlProbe
from provider_agent.simulated_probe import SimulatedProbe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rigshare-agent", description=__doc__.splitlines()[0])
    p.add_argument("--server", help="the rigshare service URL shown by /addmachine")
    p.add_argument("--token", help="the agent token shown once by /addmachine")
    p.add_argument("--simulate", metavar="SPEC", help='fake GPUs, e.g. "4090x2,h100"')
    p.add_argument("--probe", action="store_true", help="print one GPU snapshot and exit")
    return p


async def _probe(probe: GpuProbe) -> int:
    await probe.start()
    try:
        for reading in await probe.snapshot():
            print(reading.summary())
    finally:
        await probe.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    probe: GpuProbe
    try:
        probe = SimulatedProbe(args.simulate) if args.simulate else NvmlProbe()
    except ValueError as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 2
    if args.probe:
        try:
            return asyncio.run(_probe(probe))
        except AgentError as exc:
            print(f"rigshare-agent: {exc}", file=sys.stderr)
            return 1
    if not args.server or not args.token:
        print(
            "rigshare-agent: --server and --token are required (copy them from /addmachine)",
            file=sys.stderr,
        )
        return 2
    print(
        "rigshare-agent: this service version has no agent API yet; the heartbeat loop "
        "arrives with it. Use --probe to check the GPUs.",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":
    raise SystemExit(main())
