"""Simulated GPU hosts: the specs, instance offer and grant answers a simulated agent reports.

The embedded default's simulated providers (``bot/simulation.py``), the fake agent gateway and
the tests use these, so a simulated host looks like a real one to the market (CPU, RAM, disk,
driver and CUDA, PCIe, templates) while saying plainly that it is simulated
(``backend="simulated"``): nothing runs behind its credentials.
"""

from __future__ import annotations

import secrets

from core.domain.verification import COMMAND_NOT_FOUND, ProbeLogin
from core.ports import ProbeTarget
from core.wire import (
    AccessDetails,
    AgentCommand,
    InstanceOffer,
    InstanceRequest,
    MachineSpecs,
    PortMapping,
    TemplateInfo,
)

SIMULATED_FINGERPRINT = "SHA256:simulatedhostkeyAAAAAAAAAAAAAAAAAAAAAAAAAA"
SIMULATED_HOST, SIMULATED_SSH_PORT = "127.0.0.1", 2222
JUPYTER_PORT = 8888
DRIVER_VERSION, CUDA_VERSION = "550.54.15", "12.4"

TEMPLATES = (
    TemplateInfo(
        name="base", image="nvidia/cuda:12.4.1-base-ubuntu22.04", title="CUDA 12.4 on Ubuntu 22.04"
    ),
    TemplateInfo(
        name="pytorch",
        image="pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime",
        title="PyTorch 2.3 with CUDA 12.1",
    ),
    TemplateInfo(
        name="jupyter",
        image="quay.io/jupyter/pytorch-notebook:cuda12-python-3.11",
        title="JupyterLab with PyTorch",
        jupyter=True,
    ),
)


def simulated_offer() -> InstanceOffer:
    """Simulated hosts run no probes: nothing is there to log into, so never verified."""
    return InstanceOffer(
        backend="simulated",
        templates=list(TEMPLATES),
        default_template="base",
        custom_images=True,
        allowed_registries=["docker.io", "ghcr.io"],
        max_ports=4,
    )


def simulated_specs(gpus: int) -> MachineSpecs:
    """A plausible host for ``gpus`` GPUs: 16 cores, 64 GiB and 500 GiB of disk per GPU."""
    n = max(1, gpus)
    return MachineSpecs(
        cpu_model="AMD EPYC 7543 32-Core Processor",
        cpu_cores=16 * n,
        ram_mib=65_536 * n,
        disk_free_gib=500 * n,
        net_down_mbps=940,
        net_up_mbps=480,
    )


def simulated_access(cmd: AgentCommand) -> AccessDetails:
    """What a simulated agent answers to a grant: the instance it pretends to run."""
    return simulated_access_for(cmd.rental_id, cmd.instance)


def simulated_access_for(rental_id: int, instance: InstanceRequest | None) -> AccessDetails:
    if instance is None:  # a grant without an instance: an SSH account
        return AccessDetails(
            username=f"rs-{rental_id}",
            host=SIMULATED_HOST,
            port=SIMULATED_SSH_PORT,
            host_key_fingerprint=SIMULATED_FINGERPRINT,
        )
    jupyter = instance.jupyter
    return AccessDetails(
        username="root",
        host=SIMULATED_HOST,
        port=SIMULATED_SSH_PORT,
        host_key_fingerprint=SIMULATED_FINGERPRINT,
        ports=[
            PortMapping(container_port=p, host_port=30_000 + (rental_id * 8 + i) % 30_000)
            for i, p in enumerate(instance.ports)
        ],
        jupyter_port=JUPYTER_PORT if jupyter else None,
        jupyter_token=secrets.token_urlsafe(24) if jupyter else None,
        gpu_uuids=list(instance.gpu_uuids),
        image=instance.image,
    )


class FakeProbeHosts:
    """Implements core.ports.HostProber over made-up SSH servers: ``serve`` puts one at
    ``host:port`` with its host key fingerprint and the GPU UUIDs ``nvidia-smi`` lists inside
    (None: no ``nvidia-smi``). Logins are recorded; a wrong host key gets no login."""

    PUBLIC_KEY = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeServiceProbeKeyForTestsOnlyAAAAAAAA probe"
    )

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], tuple[str, tuple[str, ...] | None]] = {}
        self.logins: list[ProbeTarget] = []

    def serve(self, host: str, port: int, fingerprint: str, gpu_uuids: list[str] | None) -> None:
        self.servers[(host, port)] = (fingerprint, None if gpu_uuids is None else tuple(gpu_uuids))

    def public_key(self) -> str:
        return self.PUBLIC_KEY

    async def login(self, target: ProbeTarget, command: str) -> ProbeLogin:
        server = self.servers.get((target.host, target.port))
        if server is None:
            return ProbeLogin(None, error="ConnectionRefusedError: nothing listens there")
        fingerprint, uuids = server
        if fingerprint != target.host_key_fingerprint:
            return ProbeLogin(fingerprint, error="host key mismatch")
        self.logins.append(target)
        if uuids is None:
            return ProbeLogin(fingerprint, COMMAND_NOT_FOUND, "nvidia-smi: command not found\n")
        return ProbeLogin(fingerprint, 0, "".join(f"{u}\n" for u in uuids))
