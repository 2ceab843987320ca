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
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from core import runtime
from provider_agent.access import AccessBackend
from provider_agent.client import ServiceClient
from provider_agent.container_backend import ContainerBackend
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.errors import AgentError, NvmlUnavailable, TokenRefused
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import GpuInventory, SshEndpoint
from provider_agent.host_specs import HostSpecs
from provider_agent.instance_config import InstanceConfig, load_config
from provider_agent.nvml_probe import GpuProbe, NvmlProbe
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_backend import SimulatedBackend
from provider_agent.simulated_probe import SimulatedProbe
from provider_agent.ssh_keys import generate_keypair

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


async def _probe(probe: GpuProbe) -> int:
    await probe.start()
    try:
        for reading in await probe.snapshot():
            print(reading.summary())
    finally:
        await probe.close()
    return 0


def _check_server(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--server must be an http(s) URL, not {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        logging.getLogger("rigshare-agent").warning(
            "--server is plain http on a non-loopback host: the token travels unencrypted"
        )
    return url


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            return args.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read --token-file {args.token_file}: {exc}") from exc
    return os.environ.get(TOKEN_ENV, "").strip()


def build_daemon(
    args: argparse.Namespace, probe: GpuProbe, token: str, config: InstanceConfig | None = None
) -> AgentDaemon:
    """Raises ValueError or AgentError for a bad set-up (nothing has started then)."""
    server = _check_server(args.server)
    host = args.ssh_host or socket.getfqdn()
    client = ServiceClient(server, token)
    inventory = GpuInventory(probe)
    probe_pair = generate_keypair("rigshare-agent-probe")
    backend: AccessBackend
    specs_path = Path("/")
    if args.backend == "simulated":
        backend = SimulatedBackend(ssh_host=host, state_file=args.state_file)
        selftest = None
    else:
        config = config or load_config(args.config)
        backend = ContainerBackend(
            config, ssh_host=host, gpus=inventory.current, probe_public_key=probe_pair.public_key
        )
        specs_path = config.state_dir if config.state_dir.exists() else Path("/")
        selftest = None if args.no_selftest else SshSelfTest(probe_pair.private_key)
    return AgentDaemon(
        client,
        probe,
        CommandExecutor(backend, selftest=selftest),
        endpoint=SshEndpoint(host, None, None),
        timing=AgentTiming(interval_s=max(1.0, args.interval)),
        specs=HostSpecs(specs_path),
        inventory=inventory,
    )


def _graceful_then_hard(daemon: AgentDaemon, task: asyncio.Task[None] | None) -> None:
    if daemon.stop_requested and task is not None:
        task.cancel()
    daemon.request_stop()


async def _serve(daemon: AgentDaemon) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        # a second SIGTERM (or SIGINT) still stops at once
        loop.add_signal_handler(signal.SIGTERM, _graceful_then_hard, daemon, task)
    backend = daemon.executor.backend
    prepull = None
    if isinstance(backend, ContainerBackend):
        await backend.start()
        prepull = asyncio.create_task(backend.prepull(), name="prepull")
    runtime.tune_gc_for_serving()  # start-up is done: heartbeats and commands from here on
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await daemon.run()
    finally:
        if prepull is not None:
            prepull.cancel()
        if isinstance(backend, ContainerBackend):
            await backend.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
