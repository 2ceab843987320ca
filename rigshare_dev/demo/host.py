"""The provider's GPU host in the demo: the real agent daemon with a simulated RTX 4090.

With a container engine (``RIGSHARE_DEMO_ENGINE``: a Docker socket path, or the default
``/var/run/docker.sock``) and root, the rental is a real instance: the agent's container
backend pulls the image (``RIGSHARE_DEMO_IMAGE``, by default Debian's slim image), gives the
container a fake device node for its one GPU (the simulated GPU has no driver), SSH inside
with a fresh host key, and the renter's login in the story is a real SSH session into it.
Otherwise the agent runs the same daemon over the same HTTP API with the simulated backend
(no login possible), and the demo says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provider_agent.client import ServiceClient
from provider_agent.container_backend import ContainerBackend
from provider_agent.daemon import AgentDaemon, AgentTiming
from provider_agent.engine_api import EngineClient, EngineError
from provider_agent.executor import CommandExecutor
from provider_agent.heartbeats import GpuInventory, SshEndpoint
from provider_agent.host_specs import HostSpecs
from provider_agent.instance_config import InstanceConfig, Template
from provider_agent.selftest import SshSelfTest
from provider_agent.simulated_backend import SimulatedBackend
from provider_agent.simulated_probe import SimulatedProbe
from provider_agent.ssh_keys import generate_keypair

GPU_SPEC = "4090"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_IMAGE = "docker.io/library/debian:bookworm-slim"
TIMING = AgentTiming(interval_s=1.0, poll_wait_s=5.0, backoff_first_s=0.1, backoff_max_s=0.5)
# what the renter runs after logging in: the real driver's view where there is one
GPU_CHECK = (
    'echo "logged in as $(whoami) on $(hostname)"; '
    "nvidia-smi --query-gpu=name,memory.total,temperature.gpu --format=csv,noheader "
    '2>/dev/null || echo "GPU device nodes in this instance: $(cd /dev && echo nvidia*)'
    ' (simulated GPU: no NVIDIA driver on this host)"'
)


@dataclass(frozen=True, slots=True)
class DemoEngine:
    """Where the demo's instances run; tests point it at their private engine."""

    socket: str
    image: str = DEFAULT_IMAGE
    ssh_host: str = "127.0.0.1"
    engine_netns: str | None = None  # firewall rules go there (never the host's own)


def engine_from_env() -> DemoEngine | None:
    socket = os.environ.get("RIGSHARE_DEMO_ENGINE", DEFAULT_SOCKET)
    if not Path(socket).exists():
        return None
    return DemoEngine(
        socket,
        image=os.environ.get("RIGSHARE_DEMO_IMAGE", DEFAULT_IMAGE),
        ssh_host=os.environ.get("RIGSHARE_DEMO_HOST", "127.0.0.1"),
        engine_netns=os.environ.get("RIGSHARE_DEMO_NETNS") or None,
    )


async def instance_unavailable_reason(engine: DemoEngine | None) -> str | None:
    """Why the demo cannot run a real instance here, or None when it can."""
    if engine is None:
        return "no container engine found (set RIGSHARE_DEMO_ENGINE to a Docker socket)"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root: the fake GPU device node needs mknod"
    client = EngineClient(engine.socket)
    try:
        await client.ping()
    except EngineError as exc:
        return str(exc)
    finally:
        await client.close()
    return None


def _fake_gpu_nodes(directory: Path) -> Path:
    """The simulated GPU's device node (195, 0) and the control node, as the driver makes."""
    directory.mkdir(mode=0o755, exist_ok=True)
    for name, minor in (("nvidia0", 0), ("nvidiactl", 255)):
        node = directory / name
        if not node.exists():
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(195, minor))
    return directory


class Host:
    """One GPU host running ``rigshare-agent --simulate 4090`` against the demo service."""

    def __init__(
        self,
        workdir: Path,
        server_url: str,
        clock: Callable[[], float],
        engine: DemoEngine | None,
    ) -> None:
        self.server_url = server_url
        self.clock = clock
        self.engine = engine
        self._task: asyncio.Task | None = None
        self._token: str | None = None
        self.daemon: AgentDaemon | None = None
        self._probe = SimulatedProbe(GPU_SPEC)
        self._inventory = GpuInventory(self._probe)
        self._probe_key = generate_keypair("rigshare-agent-probe")
        self.backend: ContainerBackend | SimulatedBackend
        if engine is not None:
            config = InstanceConfig(
                socket=engine.socket,
                gpu_binding="devices",
                device_dir=_fake_gpu_nodes(workdir / "dev"),
                publish_ip=engine.ssh_host,
                firewall=engine.engine_netns is not None,  # never the demo machine's own
                engine_netns=engine.engine_netns,
                state_dir=workdir / "agent",
                templates=(Template("base", engine.image, "Debian (demo)"),),
                default_template="base",
                custom_images=False,
            )
            self.backend = ContainerBackend(
                config,
                ssh_host=engine.ssh_host,
                gpus=self._inventory.current,
                probe_public_key=self._probe_key.public_key,
                clock=clock,
            )
        else:
            self.backend = SimulatedBackend(clock=clock)

    @property
    def real(self) -> bool:
        return isinstance(self.backend, ContainerBackend)

    async def start(self) -> None:
        """The host is ready as a provider keeps it: engine checked, template image pulled."""
        if isinstance(self.backend, ContainerBackend):
            await self.backend.start()
            await self.backend.prepull()

    def describe(self) -> str:
        if self.engine is None:
            return "simulated instances (no login possible)"
        return f"container engine {self.engine.socket}, image {self.engine.image}"

    def start_agent(self, token: str | None = None) -> None:
        """Start (or restart after an outage) the agent daemon with its agent token."""
        self._token = token or self._token
        selftest = SshSelfTest(self._probe_key.private_key) if self.real else None
        executor = CommandExecutor(self.backend, selftest=selftest, clock=self.clock)
        host = self.engine.ssh_host if self.engine else "127.0.0.1"
        self.daemon = AgentDaemon(
            ServiceClient(self.server_url, self._token),
            self._probe,
            executor,
            endpoint=SshEndpoint(host),
            timing=TIMING,
            clock=self.clock,
            specs=HostSpecs(Path("/")),
            inventory=self._inventory,
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
        for rental in await self.backend.active():
            with contextlib.suppress(Exception):
                await self.backend.cleanup(rental)
        if isinstance(self.backend, ContainerBackend):
            await self.backend.close()
