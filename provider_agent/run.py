"""What ``rigshare-agent`` runs once its command line is parsed: the daemon and its parts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

from core import runtime
from provider_agent.access import AccessBackend
from provider_agent.client import ServiceClient
from provider_agent.container_backend import ContainerBackend
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import GpuInventory, SshEndpoint
from provider_agent.host_specs import HostSpecs
from provider_agent.instance_config import InstanceConfig, load_config
from provider_agent.nvml_probe import GpuProbe
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_backend import SimulatedBackend
from provider_agent.ssh_keys import generate_keypair


async def _probe(probe: GpuProbe) -> int:
    await probe.start()
    try:
        for reading in await probe.snapshot():
            print(reading.summary())  # noqa: T201 - the --probe output
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


def build_daemon(
    args: argparse.Namespace,
    probe: GpuProbe,
    token: str,
    config: InstanceConfig | None = None,
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
