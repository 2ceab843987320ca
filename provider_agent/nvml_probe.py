"""GPU state through NVML (nvidia-ml-py), read off the event loop, "n/a" instead of a crash.

Every per-GPU field that NVML cannot deliver (``NVMLError_NotSupported`` or any other NVML
error for that field) reads as ``None`` and renders as ``"n/a"``. A GPU that vanishes while it
is being read (``GpuIsLost``, ``GpuNotFound``, or an ``InvalidArgument`` on a handle that was
valid a moment ago) is reported with ``lost=True`` rather than failing the whole snapshot.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol, TypeVar

from provider_agent.errors import NvmlUnavailable

T = TypeVar("T")

# NVML C return codes; stable across driver versions and identical in pynvml and our fakes.
_ERR_INVALID_ARGUMENT = 2
_ERR_DRIVER_NOT_LOADED = 9
_ERR_LIBRARY_NOT_FOUND = 12
_ERR_GPU_IS_LOST = 15
_ERR_GPU_NOT_FOUND = 28
_LOST_CODES = frozenset({_ERR_INVALID_ARGUMENT, _ERR_GPU_IS_LOST, _ERR_GPU_NOT_FOUND})
_TEMPERATURE_GPU = 0
_MEMORY_ERROR_UNCORRECTED = 1
_VOLATILE_ECC = 0
_MIB = 1024 * 1024

LIBRARY_MISSING = (
    "NVIDIA driver library (libnvidia-ml.so.1) not found — install the NVIDIA driver, "
    "or run with --simulate for development"
)
DRIVER_NOT_LOADED = (
    "NVIDIA kernel driver is not loaded (NVML: Driver Not Loaded) — load the NVIDIA driver, "
    "or run with --simulate for development"
)


def na(value: object) -> str:
    """Render a reading field: ``None`` becomes ``"n/a"``."""
    return "n/a" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One GPU at one instant. ``None`` means "not available on this GPU".

    ``power_w`` is the board power draw in whole watts (NVML reports milliwatts; rounded).
    ``ecc_errors`` is the volatile (since driver load) uncorrected ECC error count.
    """

    index: int
    uuid: str | None
    name: str | None
    vram_total_mib: int | None = None
    vram_used_mib: int | None = None
    utilization_pct: int | None = None
    temperature_c: int | None = None
    power_w: int | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    ecc_errors: int | None = None
    process_count: int | None = None
    lost: bool = False
    pcie_gen: int | None = None  # current PCIe link generation
    pcie_width: int | None = None  # current PCIe link width (lanes)
    minor: int | None = None  # /dev/nvidia<minor>: what a container must be given

    def summary(self) -> str:
        """One human line, ``n/a`` for missing fields."""
        if self.lost:
            return f"#{self.index} {na(self.name)} {na(self.uuid)}: GPU lost"
        return (
            f"#{self.index} {na(self.name)} | {na(self.vram_used_mib)}/"
            f"{na(self.vram_total_mib)} MiB | {na(self.utilization_pct)} % | "
            f"{na(self.temperature_c)} C | {na(self.power_w)} W | ECC {na(self.ecc_errors)} | "
            f"{na(self.process_count)} procs | PCIe {na(self.pcie_gen)}x{na(self.pcie_width)} | "
            f"{na(self.uuid)} /dev/nvidia{na(self.minor)}"
        )


class GpuProbe(Protocol):
    """What the heartbeat loop needs from a GPU source (NVML or simulated)."""

    async def start(self) -> None: ...

    async def snapshot(self) -> list[GpuReading]: ...

    async def close(self) -> None: ...


def cuda_version_text(version: int) -> str:
    """``12040`` -> ``"12.4"`` (NVML encodes CUDA versions as major*1000 + minor*10)."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _text(value: Any) -> str:
    # nvidia-ml-py < 11.5 returns bytes for strings; newer versions return str.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _GpuLost(Exception):
    pass


class NvmlProbe:
    """Reads every GPU through an injected NVML module (``pynvml`` by default, imported lazily).

    ``start()`` calls ``nvmlInit`` once and raises :class:`NvmlUnavailable` when the driver or
    its library is missing; ``close()`` calls ``nvmlShutdown``. ``snapshot()`` raises
    :class:`NvmlUnavailable` if the probe is not started or NVML cannot count GPUs.
    """

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        self._nvml = nvml
        self._started = False
        self._lock = threading.Lock()  # NVML calls are serialised; snapshots never interleave

    async def __aenter__(self) -> NvmlProbe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def snapshot(self) -> list[GpuReading]:
        return await asyncio.to_thread(self._snapshot)

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            if self._nvml is None:
                try:
                    import pynvml
                except ImportError as exc:
                    raise NvmlUnavailable(
                        "nvidia-ml-py is not installed — pip install nvidia-ml-py, "
                        "or run with --simulate for development"
                    ) from exc
                self._nvml = pynvml
            try:
                self._nvml.nvmlInit()
            except self._nvml.NVMLError as exc:
                code = getattr(exc, "value", None)
                if code == _ERR_LIBRARY_NOT_FOUND:
                    raise NvmlUnavailable(LIBRARY_MISSING) from exc
                if code == _ERR_DRIVER_NOT_LOADED:
                    raise NvmlUnavailable(DRIVER_NOT_LOADED) from exc
                raise NvmlUnavailable(f"NVML failed to initialise: {exc}") from exc
            self._started = True

    def _close(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._started = False
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass  # shutting down anyway; nothing useful to do with the error

    def _snapshot(self) -> list[GpuReading]:
        with self._lock:
            if not self._started:
                raise NvmlUnavailable("NVML probe is not started")
            nvml = self._nvml
            driver = self._system(lambda: _text(nvml.nvmlSystemGetDriverVersion()))
            cuda = self._system(lambda: cuda_version_text(nvml.nvmlSystemGetCudaDriverVersion()))
            try:
                count = nvml.nvmlDeviceGetCount()
            except nvml.NVMLError as exc:
                raise NvmlUnavailable(f"NVML could not count GPUs: {exc}") from exc
            return [self._read_gpu(i, driver, cuda) for i in range(count)]

    def _system(self, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except (self._nvml.NVMLError, AttributeError):
            return None

    def _read_gpu(self, index: int, driver: str | None, cuda: str | None) -> GpuReading:
        nvml = self._nvml
        known: dict[str, Any] = {"index": index, "uuid": None, "name": None}
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError:
            return GpuReading(**known, lost=True)

        def field(read: Callable[[], T]) -> T | None:
            try:
                return read()
            except AttributeError:  # binding too old to have this call
                return None
            except nvml.NVMLError as exc:
                if getattr(exc, "value", None) in _LOST_CODES:
                    raise _GpuLost from exc
                return None

        try:
            known["uuid"] = field(lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
            known["name"] = field(lambda: _text(nvml.nvmlDeviceGetName(handle)))
            memory = field(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
            return GpuReading(
                **known,
                vram_total_mib=None if memory is None else int(memory.total) // _MIB,
                vram_used_mib=None if memory is None else int(memory.used) // _MIB,
                utilization_pct=field(lambda: int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
                temperature_c=field(
                    lambda: int(nvml.nvmlDeviceGetTemperature(handle, _TEMPERATURE_GPU))
                ),
                power_w=field(lambda: (int(nvml.nvmlDeviceGetPowerUsage(handle)) + 500) // 1000),
                driver_version=driver,
                cuda_version=cuda,
                ecc_errors=field(
                    lambda: int(
                        nvml.nvmlDeviceGetTotalEccErrors(
                            handle, _MEMORY_ERROR_UNCORRECTED, _VOLATILE_ECC
                        )
                    )
                ),
                process_count=self._process_count(handle, field),
                pcie_gen=field(lambda: int(nvml.nvmlDeviceGetCurrPcieLinkGeneration(handle))),
                pcie_width=field(lambda: int(nvml.nvmlDeviceGetCurrPcieLinkWidth(handle))),
                minor=field(lambda: int(nvml.nvmlDeviceGetMinorNumber(handle))),
            )
        except _GpuLost:
            return GpuReading(**known, lost=True)

    def _process_count(self, handle: Any, field: Callable[..., Any]) -> int | None:
        nvml = self._nvml
        compute = field(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle))
        graphics = field(lambda: nvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
        if compute is None and graphics is None:
            return None
        return len({p.pid for p in [*(compute or []), *(graphics or [])]})
