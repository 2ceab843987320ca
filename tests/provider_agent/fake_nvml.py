"""A stand-in for the ``pynvml`` module: same call names, error classes and return shapes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


def _error_class(name: str, code: int) -> type[NVMLError]:
    def init(self: NVMLError) -> None:
        NVMLError.__init__(self, code)

    return type(name, (NVMLError,), {"__init__": init})


NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", 2)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", 3)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", 4)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", 9)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", 12)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", 15)
NVMLError_Unknown = _error_class("NVMLError_Unknown", 999)

MIB = 1024 * 1024


@dataclass
class FakeGpu:
    name: str | bytes = "NVIDIA GeForce RTX 4090"
    uuid: str | bytes = "GPU-00000000-0000-0000-0000-000000000001"
    total_mib: int = 24564
    used_mib: int = 1024
    util: int = 37
    temp: int = 61
    power_mw: int = 250_400
    ecc: int = 0
    compute_pids: tuple[int, ...] = (100, 101)
    graphics_pids: tuple[int, ...] = (101,)
    pcie_gen: int = 4
    pcie_width: int = 16
    minor: int = 0
    errors: dict[str, NVMLError] = field(default_factory=dict)  # call name -> raised error
    lost_from: str | None = None  # from this call on, every call raises GpuIsLost


CALL_ORDER = (
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetName",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetTotalEccErrors",
    "nvmlDeviceGetComputeRunningProcesses",
    "nvmlDeviceGetGraphicsRunningProcesses",
    "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth",
    "nvmlDeviceGetMinorNumber",
)


class FakeNvml:
    NVMLError = NVMLError

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        init_error: NVMLError | None = None,
        driver: str | bytes = "550.54.15",
        cuda: int | NVMLError = 12040,
    ) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.init_calls = 0
        self.shutdown_calls = 0
        self.threads: set[int] = set()
        self.lost: set[int] = set()

    def _enter(self) -> None:
        self.threads.add(threading.get_ident())

    def nvmlInit(self) -> None:
        self._enter()
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self._enter()
        self.shutdown_calls += 1

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        self._enter()
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter()
        if isinstance(self.cuda, NVMLError):
            raise self.cuda
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        self._enter()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._enter()
        err = self.gpus[index].errors.get("nvmlDeviceGetHandleByIndex")
        if err is not None:
            raise err
        return index

    def _gpu(self, handle: int, call: str) -> FakeGpu:
        self._enter()
        gpu = self.gpus[handle]
        if gpu.lost_from == call:
            self.lost.add(handle)
        if handle in self.lost:
            raise NVMLError_GpuIsLost()
        if call in gpu.errors:
            raise gpu.errors[call]
        return gpu

    def nvmlDeviceGetUUID(self, handle: int) -> str | bytes:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, handle: int) -> str | bytes:
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        total, used = gpu.total_mib * MIB, gpu.used_mib * MIB
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(
            gpu=self._gpu(handle, "nvmlDeviceGetUtilizationRates").util, memory=5
        )

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == 0
        return self._gpu(handle, "nvmlDeviceGetTemperature").temp

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetTotalEccErrors(self, handle: int, error_type: int, counter: int) -> int:
        assert (error_type, counter) == (1, 0)  # uncorrected, volatile
        return self._gpu(handle, "nvmlDeviceGetTotalEccErrors").ecc

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in gpu.compute_pids]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Any]:
        gpu = self._gpu(handle, "nvmlDeviceGetGraphicsRunningProcesses")
        return [SimpleNamespace(pid=pid, usedGpuMemory=None) for pid in gpu.graphics_pids]

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkGeneration").pcie_gen

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkWidth").pcie_width

    def nvmlDeviceGetMinorNumber(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetMinorNumber").minor
