"""``rigshare-agent``: the daemon a provider runs on each GPU host.

``rigshare-agent --server URL --token T`` (copied from /addmachine) is the whole set-up: it
reads the GPUs (NVML, or ``--simulate`` fake GPUs), sends heartbeats, and grants and revokes
per-rental SSH access on this host's OpenSSH server. ``--probe`` prints one GPU snapshot.
Exit codes: 0 done, 1 GPUs unreadable, 2 bad arguments or set-up, 4 token refused, 130 ^C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from provider_agent.client import ServiceClient
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.errors import AgentError, NvmlUnavailable, TokenRefused
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import SshEndpoint
from provider_agent.nvml_probe import GpuProbe, NvmlProbe
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_probe import SimulatedProbe
from provider_agent.ssh_access import SharedAccount
from provider_agent.ssh_accounts import PerRentalAccounts
from provider_agent.ssh_keys import generate_keypair, host_key_fingerprint

TOKEN_ENV = "RIGSHARE_AGENT_TOKEN"  # keeps the token out of `ps` output (systemd unit)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rigshare-agent", description=__doc__.splitlines()[0])
    p.add_argument("--server", help="the rigshare service URL shown by /addmachine")
    p.add_argument("--token", help=f"the agent token shown once by /addmachine (or ${TOKEN_ENV})")
    p.add_argument("--simulate", metavar="SPEC", help='fake GPUs, e.g. "4090x2,h100"')
    p.add_argument("--probe", action="store_true", help="print one GPU snapshot and exit")
    ssh = p.add_argument_group("SSH access")
    ssh.add_argument("--ssh-host", default=None, help="host renters connect to (default: FQDN)")
    ssh.add_argument("--ssh-port", type=int, default=22)
    ssh.add_argument("--host-key", default="/etc/ssh/ssh_host_ed25519_key.pub")
    ssh.add_argument(
        "--mode",
        choices=("per-rental", "shared"),
        default=None,
        help="one unix account per rental (needs root; default as root) or one shared account",
    )
    ssh.add_argument("--shared-user", default=None, help="account for --mode shared (default: me)")
    ssh.add_argument("--authorized-keys", type=Path, default=None, help="shared mode key file")
    ssh.add_argument("--keys-dir", type=Path, default=Path("/etc/ssh/rigshare"))
    ssh.add_argument("--home-root", type=Path, default=Path("/home"))
    ssh.add_argument("--ssh-log", type=Path, default=None, help="sshd log to take evidence from")
    ssh.add_argument("--no-selftest", action="store_true", help="skip the post-grant login test")
    ssh.add_argument("--selftest-fallback", default=None, help="command when nvidia-smi is missing")
    p.add_argument("--interval", type=float, default=15.0, help="heartbeat seconds (jittered)")
    p.add_argument("-v", "--verbose", action="store_true")
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


def build_daemon(args: argparse.Namespace, probe: GpuProbe, token: str) -> AgentDaemon:
    """Raises ValueError, OSError or AgentError (as AccessError) for a bad set-up."""
    server = _check_server(args.server)
    try:
        fingerprint = host_key_fingerprint(args.host_key)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"cannot read the SSH host key {args.host_key} ({exc}); see --host-key"
        ) from exc
    host = args.ssh_host or socket.getfqdn()
    endpoint = SshEndpoint(host, args.ssh_port, fingerprint)
    probe_pair = generate_keypair("rigshare-agent-probe")
    mode = args.mode or ("per-rental" if os.geteuid() == 0 else "shared")
    if mode == "per-rental":
        backend = PerRentalAccounts(
            host=host,
            port=args.ssh_port,
            host_key=args.host_key,
            keys_dir=args.keys_dir,
            home_root=args.home_root,
            probe_public_key=probe_pair.public_key,
        )
    else:
        backend = SharedAccount(
            args.shared_user or getpass.getuser(),
            host=host,
            port=args.ssh_port,
            host_key=args.host_key,
            authorized_keys=args.authorized_keys,
            probe_public_key=probe_pair.public_key,
        )
    fallback = args.selftest_fallback or ("true" if args.simulate else None)
    selftest = (
        None if args.no_selftest else SshSelfTest(probe_pair.private_key, fallback_command=fallback)
    )
    executor = CommandExecutor(backend, selftest=selftest, ssh_log_path=args.ssh_log)
    return AgentDaemon(
        ServiceClient(server, token),
        probe,
        executor,
        endpoint=endpoint,
        timing=AgentTiming(interval_s=max(1.0, args.interval)),
    )


async def _serve(daemon: AgentDaemon) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await daemon.run()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
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
            return asyncio.run(_probe(probe))
        except AgentError as exc:
            print(f"rigshare-agent: {exc}", file=sys.stderr)
            return 1
    token = args.token or os.environ.get(TOKEN_ENV, "")
    if not args.server or not token:
        print(
            "rigshare-agent: --server and --token are required (copy them from /addmachine)",
            file=sys.stderr,
        )
        return 2
    try:
        daemon = build_daemon(args, probe, token)
    except (ValueError, OSError, AgentError) as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(daemon))
    except NvmlUnavailable as exc:
        print(f"rigshare-agent: {exc}", file=sys.stderr)
        return 1
    except TokenRefused as exc:
        print(f"rigshare-agent: {exc}; get a new one with /addmachine", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
