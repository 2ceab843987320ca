"""Building container backends on the test engine (tests/engine) and acting as a renter."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from core.wire import InstanceLimits, InstanceRequest
from provider_agent.access import AccessInfo
from provider_agent.container_backend import ContainerBackend
from provider_agent.gpu_binding import GpuBinding
from provider_agent.instance_config import InstanceConfig, Template
from provider_agent.ssh_keys import KeyPair
from tests.provider_agent import sshclient


def expiry(seconds: int = 600) -> int:
    return int(time.time()) + seconds


@contextlib.asynccontextmanager
async def running(host: ContainerBackend) -> AsyncIterator[ContainerBackend]:
    """A started backend; every instance it still has is removed at the end."""
    await host.start()
    try:
        yield host
    finally:
        for rental in await host.active():
            await host.cleanup(rental)
        await host.close()


LIMITS = InstanceLimits(cpu_millis=1000, memory_mib=512, disk_gib=1, shm_mib=64, pids=256)


def templates(engine) -> tuple[Template, ...]:
    return (
        Template("base", engine.images["base"], "Debian base (no sshd)"),
        Template("pytorch", engine.images["pytorch"], "PyTorch stand-in"),
        Template("jupyter", engine.images["jupyter"], "Jupyter", jupyter=True),
        Template("tiny", engine.images["tiny"], "busybox only"),
    )


def backend(
    engine,
    state_dir: Path,
    *,
    probe: KeyPair | None = None,
    binding: GpuBinding | None = None,
    socket: str | None = None,
    clock=time.time,
    **config,
) -> ContainerBackend:
    gpus = {uuid: minor for uuid, minor in engine.gpus}

    async def inventory() -> dict[str, int]:
        return gpus

    settings = {
        "socket": str(socket or engine.socket_path),
        "gpu_binding": "devices",
        "device_dir": engine.device_dir,
        "publish_ip": engine.host_address,
        "engine_netns": engine.netns,
        "state_dir": state_dir,
        "templates": templates(engine),
        "default_template": "base",
        "max_ports": 2,
        "start_timeout_s": 20.0,
        **config,
    }
    return ContainerBackend(
        InstanceConfig(**settings),
        ssh_host=engine.host_address,
        gpus=inventory,
        probe_public_key=probe.public_key if probe else None,
        binding=binding,
        clock=clock,
    )


def request(engine, gpus: list[str], image: str = "base", **kw) -> InstanceRequest:
    fields = {
        "image": engine.images.get(image, image),
        "template": image if image in engine.images else None,
        "gpu_uuids": gpus,
        "limits": LIMITS,
        **kw,
    }
    return InstanceRequest(**fields)


async def sh(access: AccessInfo, key: KeyPair, command: str, within: float = 60) -> str:
    return await asyncio.wait_for(sshclient.run(access, key.private_key, command), within)


async def sh_status(
    access: AccessInfo, key: KeyPair, command: str, within: float = 60
) -> tuple[int, str]:
    async with sshclient.connect(access, key.private_key) as conn:
        result = await asyncio.wait_for(conn.run(command, check=False), within)
        return int(result.exit_status or 0), f"{result.stdout}{result.stderr}"
