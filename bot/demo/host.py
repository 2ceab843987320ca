"""The provider's GPU host in the demo: the real agent daemon with simulated GPUs.

With OpenSSH installed and root, access is real: a private sshd on 127.0.0.1 and one unix
account per rental (``PerRentalAccounts``), the agent's self-test logs in before it reports
the grant, and the renter's login in the story is a real SSH session. Otherwise the agent
runs the same daemon over the same HTTP API with an access backend that only records grants
(no login possible), and the demo says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from core.fakes.hosts import SIMULATED_FINGERPRINT
from provider_agent.client import ServiceClient
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import SshEndpoint
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_probe import SimulatedProbe
from provider_agent.ssh_access import AccessInfo
from provider_agent.ssh_keys import generate_keypair
from provider_agent.sshd_harness import PrivateSshd, SshdUnavailable, find_sshd

GPU_SPEC = "4090"
TIMING = AgentTiming(interval_s=1.0, poll_wait_s=5.0, backoff_first_s=0.1, backoff_max_s=0.5)
# what the renter runs after logging in: the real driver's view where there is one
GPU_CHECK = (
    'echo "logged in as $(whoami) on $(hostname)"; '
    "nvidia-smi --query-gpu=name,memory.total,temperature.gpu --format=csv,noheader "
    "2>/dev/null || echo 'no NVIDIA driver on this host: the agent reports simulated GPUs "
    "(--simulate 4090)'"
)


def ssh_unavailable_reason() -> str | None:
    """Why a real private sshd cannot run here, or None when it can."""
    if find_sshd() is None:
        return "OpenSSH server not installed"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root: per-rental unix accounts need root"
    return None


class RecordingAccess:
    """An access backend without an SSH server: grants are recorded, nobody can log in."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def grant(self, rental_id: str, public_key: str, expires_at_epoch: int) -> AccessInfo:
        self.keys[rental_id] = public_key
        return AccessInfo(f"rs-{rental_id}", "127.0.0.1", 22, SIMULATED_FINGERPRINT)

    async def revoke(self, rental_id: str) -> None:
        self.keys.pop(rental_id, None)

    async def cleanup(self, rental_id: str) -> None:
        await self.revoke(rental_id)

    async def active(self) -> set[str]:
        return set(self.keys)


class Host:
    """One GPU host running ``rigshare-agent --simulate 4090`` against the demo service."""

    def __init__(self, workdir: Path, server_url: str, clock: Callable[[], float]) -> None:
        self.server_url = server_url
        self.clock = clock
        self.sshd: PrivateSshd | None = None
        self.accounts = None
        self._task: asyncio.Task | None = None
        self._token: str | None = None
        self.daemon: AgentDaemon | None = None
        self._probe_key = generate_keypair("rigshare-agent-probe")
        if ssh_unavailable_reason() is None:
            try:
                self.sshd = PrivateSshd().start()
            except SshdUnavailable:
                self.sshd = None
        if self.sshd is not None:
            from provider_agent.ssh_accounts import PerRentalAccounts

            home = self.sshd.dir / "home"
            home.mkdir(mode=0o755, exist_ok=True)
            self.accounts = PerRentalAccounts(
                host=self.sshd.host,
                port=self.sshd.port,
                host_key=self.sshd.host_key_pub,
                keys_dir=self.sshd.keys_dir,
                home_root=home,
                probe_public_key=self._probe_key.public_key,
            )
        else:
            self.accounts = RecordingAccess()

    @property
    def real(self) -> bool:
        return self.sshd is not None

    def describe(self) -> str:
        if self.sshd is None:
            return "simulated access (no login possible)"
        return f"127.0.0.1:{self.sshd.port}, host key {self.sshd.fingerprint}"

    def start_agent(self, token: str | None = None) -> None:
        """Start (or restart after an outage) the agent daemon with its agent token."""
        self._token = token or self._token
        selftest = None
        endpoint = None
        log_path = None
        if self.sshd is not None:
            selftest = SshSelfTest(self._probe_key.private_key, fallback_command="true")
            endpoint = SshEndpoint(self.sshd.host, self.sshd.port, self.sshd.fingerprint)
            log_path = self.sshd.log_path
        executor = CommandExecutor(self.accounts, selftest=selftest, ssh_log_path=log_path)
        self.daemon = AgentDaemon(
            ServiceClient(self.server_url, self._token),
            SimulatedProbe(GPU_SPEC),
            executor,
            endpoint=endpoint,
            timing=TIMING,
            clock=self.clock,
        )
        self._task = asyncio.create_task(self.daemon.run(), name="demo-agent")

    async def stop_agent(self) -> None:
        """The host goes dark: no heartbeats, no commands (an outage)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self.daemon.client.close()

    async def stop(self) -> None:
        await self.stop_agent()
        if self.sshd is not None and hasattr(self.accounts, "accounts"):
            for rental in await self.accounts.accounts():
                with contextlib.suppress(Exception):
                    await self.accounts.cleanup(rental)
        if self.sshd is not None:
            self.sshd.stop()
