"""Fake NVIDIA GPUs: device nodes in a harness's directory (never in /dev) and a CDI spec.

The nodes carry NVIDIA's real numbers (character major 195, minor = GPU index, nvidiactl 255)
with no driver behind them, so inside a container opening a granted one fails with ENXIO ("No
such device or address") while opening one the device cgroup denies fails with EPERM: a test
can tell "not granted" from "granted but fake". nvidia-uvm's major is dynamic on a real host;
511 (unassigned) stands in. The UUIDs, in NVML's "GPU-<uuid>" form, are those
``rigshare-agent --simulate`` reports for the same index (``simulated_uuid``): the GPU behind
each node is known to the agent and to the test images' stand-in nvidia-smi alike
(``tests/engine/gpu_tools.py``), as the driver knows it on a real host.

The CDI spec is what nvidia-ctk would generate for these GPUs: kind ``nvidia.com/gpu``, one
device per GPU named both by UUID and by index, and the control nodes as common edits.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from provider_agent.simulated_probe import simulated_uuid

NVIDIA_MAJOR = 195
NVIDIACTL_MINOR = 255
UVM_MAJOR = 511  # a real host's is dynamic; this one is unassigned
CDI_KIND = "nvidia.com/gpu"
CDI_VERSION = "0.5.0"


@dataclass(frozen=True)
class FakeGpu:
    index: int
    uuid: str  # "GPU-<uuid4>"
    minor: int
    host_path: Path  # the device node in the harness's device directory
    container_path: str  # where a container sees it: /dev/nvidia<minor>

    @property
    def cdi_name(self) -> str:
        """The fully qualified CDI device name by UUID: ``nvidia.com/gpu=GPU-...``."""
        return f"{CDI_KIND}={self.uuid}"


@dataclass(frozen=True)
class FakeGpus:
    device_dir: Path
    gpus: tuple[FakeGpu, ...]
    control_nodes: tuple[tuple[Path, str], ...]  # (host path, container path): nvidiactl, uvm


def make_fake_gpus(device_dir: Path, count: int = 4) -> FakeGpus:
    """Create the device nodes (needs CAP_MKNOD, i.e. root) under ``device_dir``."""
    device_dir.mkdir(parents=True, exist_ok=True)
    gpus = []
    for index in range(count):
        node = device_dir / f"nvidia{index}"
        _mknod(node, NVIDIA_MAJOR, index)
        gpus.append(FakeGpu(index, simulated_uuid(index), index, node, f"/dev/nvidia{index}"))
    control = []
    for name, major, minor in (
        ("nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR),
        ("nvidia-uvm", UVM_MAJOR, 0),
    ):
        _mknod(device_dir / name, major, minor)
        control.append((device_dir / name, f"/dev/{name}"))
    return FakeGpus(device_dir, tuple(gpus), tuple(control))


def cdi_spec(fake: FakeGpus) -> dict[str, object]:
    devices = []
    for gpu in fake.gpus:
        edits = {"deviceNodes": [{"path": gpu.container_path, "hostPath": str(gpu.host_path)}]}
        devices.append({"name": gpu.uuid, "containerEdits": edits})
        devices.append({"name": str(gpu.index), "containerEdits": edits})
    common = [{"path": inside, "hostPath": str(host)} for host, inside in fake.control_nodes]
    return {
        "cdiVersion": CDI_VERSION,
        "kind": CDI_KIND,
        "devices": devices,
        "containerEdits": {"deviceNodes": common},
    }


def write_cdi_spec(fake: FakeGpus, path: Path) -> Path:
    """Write the spec as JSON (written aside and renamed: an engine may be scanning the
    directory right now and must never read half a spec)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(cdi_spec(fake), indent=2))
    partial.rename(path)
    return path


def _mknod(path: Path, major: int, minor: int) -> None:
    path.unlink(missing_ok=True)
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
