"""Simulated GPU hosts: the specs, instance offer and grant answers a simulated agent reports.

The embedded default's simulated providers (``rigshare_dev/simulation.py``), the fake agent gateway and
the tests use these, so a simulated host looks like a real one to the market (CPU, RAM, disk,
driver and CUDA, PCIe, templates) while saying plainly that it is simulated
(``backend="simulated"``): nothing runs behind its credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.wire import (
    AccessDetails,
    AgentCommand,
    GpuInfo,
    Heartbeat,
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


# (model key, NVML product name, memory MiB, typical $/GPU-hour in micro-USDC)
GPU_TYPES = {
    "rtx3090": ("NVIDIA GeForce RTX 3090", 24576, 220_000),
    "rtx4090": ("NVIDIA GeForce RTX 4090", 24564, 390_000),
    "rtx5090": ("NVIDIA GeForce RTX 5090", 32607, 690_000),
    "rtxa6000": ("NVIDIA RTX A6000", 49140, 490_000),
    "l4": ("NVIDIA L4", 23034, 290_000),
    "a100-80gb": ("NVIDIA A100-SXM4-80GB", 81920, 1_190_000),
    "h100": ("NVIDIA H100 80GB HBM3", 81559, 1_990_000),
    "h200": ("NVIDIA H200", 143771, 2_990_000),
}


@dataclass
class SimulatedHost:
    machine_id: int
    gpus: list[str]
    seq: int = 0
    after: int = 0  # last command seq seen

    def heartbeat(self, now: int) -> Heartbeat:
        self.seq += 1
        return Heartbeat(
            agent_version="simulated",
            seq=self.seq,
            sent_at=now,
            gpus=[
                GpuInfo(
                    index=i,
                    uuid=f"GPU-sim-{self.machine_id:04d}-{i}",
                    name=GPU_TYPES[k][0],
                    vram_total_mib=GPU_TYPES[k][1],
                    vram_used_mib=(self.seq * 37 + i) % 2048,
                    utilization_pct=(self.seq * 13 + i * 7) % 100,
                    temperature_c=38 + (self.seq + i) % 30,
                    power_w=60 + (self.seq * 11) % 300,
                    ecc_errors=0,
                    process_count=0,
                    pcie_gen=4,
                    pcie_width=16,
                )
                for i, k in enumerate(self.gpus)
            ],
            driver_version=DRIVER_VERSION,
            cuda_version=CUDA_VERSION,
            ssh_host=SIMULATED_HOST,
            ssh_port=SIMULATED_SSH_PORT,
            host_key_fingerprint=SIMULATED_FINGERPRINT,
            machine=simulated_specs(len(self.gpus)),
            offer=simulated_offer(),
        )
