"""What the engine is asked to create for a rental: the container's create body and the
instances' network, as pure functions of the rental and the host (tests read them whole).

The body pins everything the security model promises: exactly the rented GPUs (the binding),
the limits as the rented share clamped to what the engine has, a cpuset of whole cores no
other instance holds, no swap beyond the memory limit, read-only mounts of the toolbox, the
run directory and the renter's key, dropped capabilities, no-new-privileges, no privileged
mode, and the toolbox's init as PID 1 (the deadline must be unkillable from inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.wire import InstanceLimits
from provider_agent.firewall import BRIDGE
from provider_agent.gpu_binding import GpuBinding, HostGpu
from provider_agent.toolbox import MOUNT_POINT, Toolbox

LABEL = "rigshare.rental"
NETWORK = "rigshare-instances"
NETWORK_LABEL = "rigshare.network"
SSH_PORT = 22
DROPPED_CAPABILITIES = ("NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE")
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class EngineShape:
    """What the engine has: CPUs and memory (0: unknown, no clamp)."""

    cpus: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class Resources:
    nano_cpus: int
    memory_bytes: int
    cpuset: str  # "" when too few whole cores are free: the CPU quota still holds


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    rental_id: str
    image: str
    gpus: tuple[HostGpu, ...]
    ports: tuple[int, ...]
    limits: InstanceLimits
    network: str = NETWORK


@dataclass(frozen=True, slots=True)
class Mounts:
    toolbox: Toolbox
    run_dir: Path
    authorized_keys: Path


def resources(limits: InstanceLimits, engine: EngineShape, busy_cores: set[int]) -> Resources:
    """The limits clamped to the engine, and a cpuset of whole cores no other instance
    holds, so a neighbour's load cannot slow the instance down."""
    cpu_millis = min(limits.cpu_millis, engine.cpus * 1000)
    memory_mib = (
        min(limits.memory_mib, engine.memory_mib) if engine.memory_mib else limits.memory_mib
    )
    wanted = max(1, math.ceil(cpu_millis / 1000))
    free = [c for c in range(engine.cpus) if c not in busy_cores]
    cpuset = ",".join(map(str, free[:wanted])) if len(free) >= wanted else ""
    return Resources(cpu_millis * 1_000_000, memory_mib * _MIB, cpuset)


def network_body() -> dict[str, Any]:
    """One bridge for all instances, with inter-container traffic off: instances reach each
    other no more than on separate networks (and the firewall drops private destinations
    anyway), and no network is created or removed per rental."""
    return {
        "Name": NETWORK,
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Labels": {NETWORK_LABEL: "instances"},
        "Options": {
            "com.docker.network.bridge.name": BRIDGE,
            "com.docker.network.bridge.enable_icc": "false",
        },
    }


def create_body(
    spec: InstanceSpec,
    res: Resources,
    mounts: Mounts,
    binding: GpuBinding,
    publish_ip: str,
) -> dict[str, Any]:
    """The Docker Engine API ``POST /containers/create`` body for one rental."""
    gpus = list(spec.gpus)
    exposed = [SSH_PORT, *spec.ports]
    toolbox = mounts.toolbox
    host_config: dict[str, Any] = {
        "Binds": [
            f"{toolbox.path}:{MOUNT_POINT}:ro",
            f"{mounts.run_dir}:/.rigshare/run:ro",
            f"{mounts.authorized_keys}:/root/.ssh/authorized_keys:ro",
            f"{toolbox.sftp_wrapper}:{toolbox.sftp_mount}:ro",
        ],
        "PortBindings": {f"{p}/tcp": [{"HostIp": publish_ip, "HostPort": ""}] for p in exposed},
        "NetworkMode": spec.network,
        "NanoCpus": res.nano_cpus,
        "CpusetCpus": res.cpuset,
        "Memory": res.memory_bytes,
        "MemorySwap": res.memory_bytes,  # no swap beyond the memory limit
        "ShmSize": spec.limits.shm_mib * _MIB,
        "PidsLimit": spec.limits.pids,
        "StorageOpt": {"size": f"{spec.limits.disk_gib}G"},
        "CapDrop": list(DROPPED_CAPABILITIES),
        "SecurityOpt": ["no-new-privileges"],
        "Privileged": False,
        "Init": False,  # the toolbox's init is PID 1: the deadline must be unkillable
        "RestartPolicy": {"Name": "no"},
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
        **binding.host_config(gpus),
    }
    return {
        "Image": spec.image,
        "Entrypoint": [f"{MOUNT_POINT}/busybox", "sh", f"{MOUNT_POINT}/init.sh"],
        "Cmd": [],
        "User": "0:0",
        "WorkingDir": "/root",
        "Hostname": f"rental-{spec.rental_id}",
        "Env": binding.environment(gpus),
        "Labels": {
            LABEL: spec.rental_id,
            "rigshare.gpus": ",".join(g.uuid for g in gpus),
            "rigshare.image": spec.image,
        },
        "ExposedPorts": {f"{p}/tcp": {} for p in exposed},
        "StopSignal": "SIGKILL",
        "HostConfig": host_config,
    }
