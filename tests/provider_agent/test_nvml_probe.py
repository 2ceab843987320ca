from __future__ import annotations

import ctypes
import threading

import pytest

from provider_agent.errors import NvmlUnavailable
from provider_agent.nvml_probe import (
    DRIVER_NOT_LOADED,
    LIBRARY_MISSING,
    GpuReading,
    NvmlProbe,
    cuda_version_text,
    na,
)
from tests.provider_agent import fake_nvml as fn


async def _snapshot(nvml: fn.FakeNvml) -> list[GpuReading]:
    async with NvmlProbe(nvml) as probe:
        return await probe.snapshot()


async def test_full_reading_of_a_healthy_gpu() -> None:
    [gpu] = await _snapshot(fn.FakeNvml([fn.FakeGpu()]))
    assert gpu == GpuReading(
        index=0,
        uuid="GPU-00000000-0000-0000-0000-000000000001",
        name="NVIDIA GeForce RTX 4090",
        vram_total_mib=24564,
        vram_used_mib=1024,
        utilization_pct=37,
        temperature_c=61,
        power_w=250,
        driver_version="550.54.15",
        cuda_version="12.4",
        ecc_errors=0,
        process_count=2,  # pid 101 is both compute and graphics
        lost=False,
        pcie_gen=4,
        pcie_width=16,
        minor=0,
    )
    assert "24564 MiB" in gpu.summary()
    assert "PCIe 4x16" in gpu.summary() and "/dev/nvidia0" in gpu.summary()


async def test_unsupported_fields_read_as_none_and_render_na() -> None:
    unsupported = {
        name: fn.NVMLError_NotSupported()
        for name in (
            "nvmlDeviceGetTotalEccErrors",
            "nvmlDeviceGetPowerUsage",
            "nvmlDeviceGetTemperature",
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetGraphicsRunningProcesses",
        )
    }
    unsupported["nvmlDeviceGetUtilizationRates"] = fn.NVMLError_NoPermission()
    unsupported["nvmlDeviceGetMemoryInfo"] = fn.NVMLError_Unknown()
    [gpu] = await _snapshot(fn.FakeNvml([fn.FakeGpu(errors=unsupported)], cuda=fn.NVMLError(13)))
    assert not gpu.lost
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    for value in (
        gpu.ecc_errors,
        gpu.power_w,
        gpu.temperature_c,
        gpu.process_count,
        gpu.utilization_pct,
        gpu.vram_total_mib,
        gpu.vram_used_mib,
        gpu.cuda_version,
    ):
        assert value is None
    assert gpu.summary().count("n/a") >= 6
    assert na(None) == "n/a" and na(0) == "0"


async def test_gpu_lost_mid_snapshot_is_reported_not_raised() -> None:
    nvml = fn.FakeNvml(
        [
            fn.FakeGpu(),
            fn.FakeGpu(uuid=b"GPU-lost", lost_from="nvmlDeviceGetMemoryInfo"),
            fn.FakeGpu(errors={"nvmlDeviceGetHandleByIndex": fn.NVMLError_InvalidArgument()}),
            fn.FakeGpu(errors={"nvmlDeviceGetPowerUsage": fn.NVMLError_InvalidArgument()}),
        ]
    )
    first, lost, no_handle, invalid_mid_read = await _snapshot(nvml)
    assert not first.lost and first.power_w == 250
    assert lost.lost and lost.uuid == "GPU-lost" and lost.vram_total_mib is None
    assert "GPU lost" in lost.summary()
    assert no_handle.lost and no_handle.uuid is None
    assert invalid_mid_read.lost


async def test_missing_library_raises_clear_error() -> None:
    probe = NvmlProbe(fn.FakeNvml([], init_error=fn.NVMLError_LibraryNotFound()))
    with pytest.raises(NvmlUnavailable) as info:
        await probe.start()
    assert str(info.value) == LIBRARY_MISSING
    assert "libnvidia-ml.so.1" in str(info.value) and "--simulate" in str(info.value)


async def test_driver_not_loaded_raises_clear_error() -> None:
    probe = NvmlProbe(fn.FakeNvml([], init_error=fn.NVMLError_DriverNotLoaded()))
    with pytest.raises(NvmlUnavailable, match="driver is not loaded") as info:
        await probe.start()
    assert str(info.value) == DRIVER_NOT_LOADED


def _has_nvml_library() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(_has_nvml_library(), reason="this host has the NVIDIA driver library")
async def test_real_pynvml_without_driver_raises_clear_error() -> None:
    with pytest.raises(NvmlUnavailable) as info:
        await NvmlProbe().start()
    assert str(info.value) == LIBRARY_MISSING


async def test_bytes_names_from_old_bindings_are_decoded() -> None:
    nvml = fn.FakeNvml(
        [fn.FakeGpu(name=b"Tesla T4", uuid=b"GPU-abc")], driver=b"470.82.01", cuda=11040
    )
    [gpu] = await _snapshot(nvml)
    assert (gpu.name, gpu.uuid, gpu.driver_version, gpu.cuda_version) == (
        "Tesla T4",
        "GPU-abc",
        "470.82.01",
        "11.4",
    )


async def test_nvml_calls_run_off_the_event_loop_thread() -> None:
    nvml = fn.FakeNvml([fn.FakeGpu(), fn.FakeGpu()])
    await _snapshot(nvml)
    assert nvml.threads and threading.get_ident() not in nvml.threads


async def test_init_once_shutdown_at_close_and_snapshot_needs_start() -> None:
    nvml = fn.FakeNvml([fn.FakeGpu()])
    probe = NvmlProbe(nvml)
    with pytest.raises(NvmlUnavailable, match="not started"):
        await probe.snapshot()
    await probe.start()
    await probe.start()
    assert len(await probe.snapshot()) == 1
    await probe.close()
    await probe.close()
    assert (nvml.init_calls, nvml.shutdown_calls) == (1, 1)


@pytest.mark.parametrize(
    ("raw", "text"), [(12040, "12.4"), (11080, "11.8"), (12020, "12.2"), (10010, "10.1")]
)
def test_cuda_version_text(raw: int, text: str) -> None:
    assert cuda_version_text(raw) == text
