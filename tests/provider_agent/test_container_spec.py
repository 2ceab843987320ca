"""The create body the engine gets for a rental: what the security model promises is in it."""

from __future__ import annotations

from pathlib import Path

from core.wire import InstanceLimits
from provider_agent.container_spec import (
    EngineShape,
    InstanceSpec,
    Mounts,
    create_body,
    resources,
)
from provider_agent.gpu_binding import DeviceNodes, HostGpu, NvidiaRuntime
from provider_agent.toolbox import Toolbox

LIMITS = InstanceLimits(cpu_millis=2500, memory_mib=8192, disk_gib=50, shm_mib=2048, pids=4096)
GPUS = (HostGpu("GPU-aaa", 3), HostGpu("GPU-bbb", 5))


def _body(binding, *, busy: set[int] | None = None, engine=EngineShape(8, 65536)) -> dict:
    tb = Toolbox(Path("/var/lib/rigshare-agent/toolbox-x"), "/usr/lib/sftp-server")
    return create_body(
        InstanceSpec("42", "docker.io/library/ubuntu:22.04", GPUS, (8080,), LIMITS),
        resources(LIMITS, engine, busy or set()),
        Mounts(tb, Path("/run/r42"), Path("/run/r42/authorized_keys")),
        binding,
        "0.0.0.0",
    )


def test_the_body_holds_the_limits_the_mounts_and_the_hardening(tmp_path):
    for node in ("nvidia3", "nvidia5", "nvidia4", "nvidiactl"):
        (tmp_path / node).touch()
    body = _body(DeviceNodes(tmp_path))
    hc = body["HostConfig"]
    devices = sorted(d["PathInContainer"] for d in hc["Devices"])
    assert devices == ["/dev/nvidia3", "/dev/nvidia5", "/dev/nvidiactl"]  # never nvidia4
    assert (hc["NanoCpus"], hc["CpusetCpus"]) == (2_500_000_000, "0,1,2")
    assert hc["Memory"] == hc["MemorySwap"] == 8192 * 1024 * 1024
    assert (hc["ShmSize"], hc["PidsLimit"], hc["StorageOpt"]) == (2048 << 20, 4096, {"size": "50G"})
    assert all(bind.endswith(":ro") for bind in hc["Binds"])
    assert hc["Privileged"] is False and "no-new-privileges" in hc["SecurityOpt"]
    assert {"NET_RAW", "MKNOD"} <= set(hc["CapDrop"])
    assert body["Entrypoint"][-1] == "/.rigshare/tools/init.sh" and hc["Init"] is False
    assert set(hc["PortBindings"]) == {"22/tcp", "8080/tcp"}
    assert body["Labels"]["rigshare.gpus"] == "GPU-aaa,GPU-bbb"


def test_cores_held_by_others_are_not_pinned_and_limits_fit_the_engine():
    assert resources(LIMITS, EngineShape(8, 65536), {0, 1, 2}).cpuset == "3,4,5"
    assert resources(LIMITS, EngineShape(4, 65536), {0, 1}).cpuset == ""  # quota only
    small = resources(LIMITS, EngineShape(2, 4096), set())
    assert (small.nano_cpus, small.memory_bytes) == (2_000_000_000, 4096 << 20)


def test_the_nvidia_runtime_gets_the_gpus_by_uuid_only():
    body = _body(NvidiaRuntime())
    [request] = body["HostConfig"]["DeviceRequests"]
    assert request["Driver"] == "nvidia" and request["DeviceIDs"] == ["GPU-aaa", "GPU-bbb"]
    assert "NVIDIA_VISIBLE_DEVICES=GPU-aaa,GPU-bbb" in body["Env"]
    assert "Devices" not in body["HostConfig"]
