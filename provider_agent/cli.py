"""``rigshare-agent``: the daemon a provider runs on each GPU host.

``RIGSHARE_AGENT_TOKEN=rsa_... rigshare-agent --server URL`` (copied from /addmachine) reads
the GPUs (NVML, or ``--simulate`` fake GPUs), sends heartbeats with the host's specs and what
it offers, and runs each rental as a container on the host's container engine (``--config``
for the engine, GPU binding, templates and registries). ``--probe`` prints one GPU snapshot.
The token comes from the environment or ``--token-file``, never the command line (``ps``
shows command lines to every user). Exit codes: 0 done, 1 GPUs unreadable, 2 bad arguments or
set-up, 4 token refused, 130 ^C.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from core import runtime  # the standard library only: --help stays fast

# The daemon's modules (aiohttp, pydantic, the container backend) are imported only once a
# command needs them (provider_agent/run.py): `rigshare-agent --help` answers at once.

TOKEN_ENV = "RIGSHARE_AGENT_TOKEN"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rigshare-agent", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    p.add_argument("--server", help="the rigshare service URL shown by /addmachine")
    p.add_argument(
        "--token-file",
        type=Path,
        help=f"file holding the agent token (default: the environment variable {TOKEN_ENV})",
    )
    p.add_argument("--simulate", metavar="SPEC", help='fake GPUs, e.g. "4090x2,h100"')
    p.add_argument("--probe", action="store_true", help="print one GPU snapshot and exit")
    p.add_argument("--config", type=Path, help="instance settings (TOML; docs/provider-agent.md)")
    p.add_argument(
        "--backend",
        choices=("container", "simulated"),
        default="container",
        help="run rentals as containers (default) or only record them (development)",
    )
    p.add_argument("--ssh-host", default=None, help="host renters connect to (default: FQDN)")
    p.add_argument("--state-file", type=Path, help="simulated backend: keep instances here")
    p.add_argument("--no-selftest", action="store_true", help="skip the post-grant login test")
    p.add_argument("--interval", type=float, default=15.0, help="heartbeat seconds (jittered)")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            return args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read --token-file {args.token_file}: {exc}") from exc
    return os.environ.get(TOKEN_ENV, "").strip()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from provider_agent.errors import AgentError, NvmlUnavailable, TokenRefused
    from provider_agent.nvml_probe import GpuProbe, NvmlProbe
    from provider_agent.run import _probe, _serve, build_daemon
    from provider_agent.simulated_probe import SimulatedProbe

    probe: GpuProbe
    try:
        probe = SimulatedProbe(args.simulate) if args.simulate else NvmlProbe()
    except ValueError as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 2
    if args.probe:
        try:
            return runtime.run(_probe(probe))
        except AgentError as exc:
            print(f"rigshare-agent: {exc}", file=sys.stderr)
            return 1
    try:
        token = _token(args)
        if not args.server or not token:
            raise ValueError(
                f"--server and the agent token (${TOKEN_ENV} or --token-file) are required; "
                "copy them from /addmachine"
            )
        daemon = build_daemon(args, probe, token)
    except (ValueError, OSError, AgentError) as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 2
    try:
        runtime.run(_serve(daemon))
    except NvmlUnavailable as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 1
    except TokenRefused as exc:
        print(f"rigshare-agent: {exc}; get a new one with /addmachine", file=sys.stderr)
        return 4
    except AgentError as exc:  # the container engine or the firewall could not be set up
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
