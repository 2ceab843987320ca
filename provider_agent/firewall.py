"""Instances reach the internet and nothing else: not the host, not the provider's LAN, not
another instance, not a cloud metadata service.

Instances sit on the bridge ``rsbr0`` (inter-container traffic off); two iptables chains,
installed once when the agent starts (idempotent, and kept when Docker restarts its own
rules), match it by the interface wildcard ``rsbr+``:

- ``RIGSHARE-INPUT`` (from INPUT): new connections from an instance to the host itself are
  dropped; replies to connections the host opened (the published ports) pass.
- ``RIGSHARE-EGRESS`` (from DOCKER-USER, which FORWARD runs before the engine's own accept
  rules; Docker inserts a new network's rules at the top of FORWARD, so the agent puts the
  DOCKER-USER jump back in first place after its network exists): new connections to
  private, link-local, shared and multicast ranges are dropped. Another instance's published port on the host's own address is
  DNATed to its private address first, so it is dropped too.

podman (checked on 4.3 with its CNI backend) needs two more things, both installed on every
host since they cost nothing under Docker:

- CNI's firewall plugin inserts its own FORWARD jump, which accepts everything from a
  container, at the top when the first container starts, i.e. above DOCKER-USER; its chain
  first jumps to ``CNI-ADMIN`` (the plugin's place for an administrator's rules), so
  ``RIGSHARE-EGRESS`` is jumped to from there as well.
- Traffic between two instances on the one bridge is bridged, not routed: iptables sees it
  only with ``net.bridge.bridge-nf-call-iptables=1``, which Docker sets and podman does not.
"""

from __future__ import annotations

import asyncio
import logging

from provider_agent.errors import AgentError

log = logging.getLogger(__name__)
BRIDGE_PREFIX = "rsbr"  # no host interface starts with it (rs+ would match veths named rs...)
BRIDGE = f"{BRIDGE_PREFIX}0"
INPUT_CHAIN = "RIGSHARE-INPUT"
EGRESS_CHAIN = "RIGSHARE-EGRESS"
USER_CHAIN = "DOCKER-USER"
CNI_ADMIN_CHAIN = "CNI-ADMIN"
BRIDGE_NETFILTER = "net.bridge.bridge-nf-call-iptables"
BLOCKED = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local: cloud metadata services live here
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
ESTABLISHED = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]


class FirewallError(AgentError):
    pass


class Firewall:
    def __init__(self, netns: str | None = None, iptables: str = "iptables") -> None:
        self._prefix = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
        self._iptables = iptables

    async def _run(self, *args: str, check: bool = True) -> bool:
        argv = [*self._prefix, self._iptables, "-w", "10", *args]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0 and check:
            raise FirewallError(f"{' '.join(argv[len(self._prefix) :])}: {err.decode().strip()}")
        return proc.returncode == 0

    async def _chain(self, name: str, rules: list[list[str]]) -> None:
        await self._run("-N", name, check=False)  # exists already: fine
        await self._run("-F", name)
        for rule in rules:
            await self._run("-A", name, *rule)

    async def _jump(self, parent: str, chain: str) -> None:
        rule = ["-i", f"{BRIDGE_PREFIX}+", "-j", chain]
        if not await self._run("-C", parent, *rule, check=False):
            await self._run("-I", parent, "1", *rule)

    async def install(self) -> None:
        """Create or refresh both chains and their jumps; raises FirewallError."""
        try:
            await self._chain(INPUT_CHAIN, [ESTABLISHED, ["-j", "DROP"]])
            egress = [ESTABLISHED] + [["-d", net, "-j", "DROP"] for net in BLOCKED]
            await self._chain(EGRESS_CHAIN, egress)
            await self._run("-N", USER_CHAIN, check=False)  # Docker creates it; podman does not
            await self._jump("INPUT", INPUT_CHAIN)
            await self._jump(USER_CHAIN, EGRESS_CHAIN)
            await self._run("-N", CNI_ADMIN_CHAIN, check=False)  # CNI creates it at first use
            await self._jump(CNI_ADMIN_CHAIN, EGRESS_CHAIN)
            await self.keep_first()
            await self._bridge_netfilter()
        except FileNotFoundError as exc:
            raise FirewallError(f"{self._iptables} not found: install iptables") from exc
        log.info("firewall installed: instances reach the internet only")

    async def _bridge_netfilter(self) -> None:
        argv = [*self._prefix, "sysctl", "-q", "-w", f"{BRIDGE_NETFILTER}=1"]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise FirewallError(
                f"instances on one bridge would reach each other: {err.decode().strip()} "
                "(load the br_netfilter module: modprobe br_netfilter)"
            )

    async def keep_first(self) -> None:
        """Make FORWARD's first rule the jump to DOCKER-USER (after the engine added its own
        rules for a new network above it)."""
        proc = await asyncio.create_subprocess_exec(
            *self._prefix,
            self._iptables,
            "-w",
            "10",
            "-S",
            "FORWARD",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate()
        rules = [line for line in out.decode().splitlines() if line.startswith("-A FORWARD")]
        if rules and rules[0] == f"-A FORWARD -j {USER_CHAIN}":
            return
        while await self._run("-D", "FORWARD", "-j", USER_CHAIN, check=False):
            pass
        await self._run("-I", "FORWARD", "1", "-j", USER_CHAIN)
