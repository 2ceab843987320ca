"""How an instance gets exactly its GPUs: one strategy per way a host exposes them.

- ``nvidia``: the NVIDIA Container Toolkit's runtime hook (``DeviceRequests`` with driver
  ``nvidia`` and the GPU UUIDs), the usual Docker set-up; it also mounts the driver's user-space
  libraries and ``nvidia-smi``.
- ``cdi``: Container Device Interface names ``nvidia.com/gpu=<UUID>`` from the spec that
  ``nvidia-ctk cdi generate`` writes (podman, through its libpod API; Docker 25+ with CDI
  enabled).
- ``devices``: plain device nodes ``/dev/nvidia<minor>`` plus the control nodes. Only the listed
  nodes pass the device cgroup; the image must bring matching driver libraries, so this is for
  hosts without the toolkit (and for tests with fake device nodes).

Every strategy names GPUs by UUID, never by index, so a reordered bus never hands a renter
someone else's GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


@dataclass(frozen=True, slots=True)
class HostGpu:
    uuid: str
    minor: int  # /dev/nvidia<minor>


class GpuBinding(Protocol):
    name: str

    def host_config(self, gpus: list[HostGpu]) -> dict[str, Any]:
        """The HostConfig keys that give a container exactly ``gpus``."""
        ...

    def environment(self, gpus: list[HostGpu]) -> list[str]:
        """Environment entries the binding needs inside the container."""
        ...


class NvidiaRuntime:
    name = "nvidia"

    def host_config(self, gpus: list[HostGpu]) -> dict[str, Any]:
        return {
            "DeviceRequests": [
                {
                    "Driver": "nvidia",
                    "DeviceIDs": [g.uuid for g in gpus],
                    "Capabilities": [["gpu", "compute", "utility"]],
                }
            ]
        }

    def environment(self, gpus: list[HostGpu]) -> list[str]:
        # the toolkit reads this too; an image's own NVIDIA_VISIBLE_DEVICES=all must not win
        return [f"NVIDIA_VISIBLE_DEVICES={','.join(g.uuid for g in gpus)}"]


class CdiDevices:
    """CDI names by UUID. Docker 25+ (CDI enabled) takes them as ``DeviceRequests`` with
    driver ``cdi``. podman 4 resolves them only through its libpod API: its compatible API
    refuses them in ``HostConfig.Devices`` and ignores ``DeviceRequests``, so the backend
    creates podman containers from :meth:`names` (see ``libpod_spec``)."""

    name = "cdi"

    def __init__(self, kind: str = "nvidia.com/gpu") -> None:
        self.kind = kind

    def names(self, gpus: list[HostGpu]) -> list[str]:
        """Fully qualified CDI device names, ``nvidia.com/gpu=GPU-<uuid>``."""
        return [f"{self.kind}={g.uuid}" for g in gpus]

    def host_config(self, gpus: list[HostGpu]) -> dict[str, Any]:
        return {"DeviceRequests": [{"Driver": "cdi", "DeviceIDs": self.names(gpus)}]}

    def environment(self, gpus: list[HostGpu]) -> list[str]:
        return []


class DeviceNodes:
    def __init__(self, device_dir: Path = Path("/dev")) -> None:
        self.device_dir = device_dir
        self.name = "devices"

    def host_config(self, gpus: list[HostGpu]) -> dict[str, Any]:
        nodes = [f"nvidia{g.minor}" for g in gpus]
        nodes += [n for n in CONTROL_NODES if (self.device_dir / n).exists()]
        return {
            "Devices": [
                {
                    "PathOnHost": str(self.device_dir / n),
                    "PathInContainer": f"/dev/{n}",
                    "CgroupPermissions": "rw",
                }
                for n in nodes
            ]
        }

    def environment(self, gpus: list[HostGpu]) -> list[str]:
        return []


def binding_for(name: str, device_dir: Path = Path("/dev")) -> GpuBinding:
    if name == "nvidia":
        return NvidiaRuntime()
    if name == "cdi":
        return CdiDevices()
    if name == "devices":
        return DeviceNodes(device_dir)
    raise ValueError(f"unknown GPU binding {name!r}: nvidia, cdi or devices")
