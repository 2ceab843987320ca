"""The host around the GPUs: CPU, memory, free disk and the network rate to the service.

Read from ``/proc`` and ``statvfs`` (cheap, every heartbeat); the rate is measured by
downloading and uploading a few MiB to the service's agent API (at start, then every six
hours), so it is the rate a renter's data would see on the path out of the host, not a figure
the provider typed in.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from core.domain.limits import MAX_CPU_MODEL
from core.wire import MachineSpecs, printable
from provider_agent.errors import AgentError

log = logging.getLogger(__name__)
SPEEDTEST_BYTES = 4 * 1024 * 1024
SPEEDTEST_EVERY_S = 6 * 3600
_GIB = 1024**3


def cpu_model(cpuinfo: str) -> str | None:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return printable(value, MAX_CPU_MODEL) or None
    return None


def mem_total_mib(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True, slots=True)
class Rate:
    down_mbps: int
    up_mbps: int


def mbps(size: int, seconds: float) -> int:
    return min(1_000_000, int(size * 8 / max(seconds, 1e-6) / 1_000_000))


class HostSpecs:
    """``current()`` is what the next heartbeat reports; ``disk_path`` is where instances'
    writable layers live (the engine's data root)."""

    def __init__(
        self,
        disk_path: Path,
        *,
        cpu_cores: Callable[[], int | None] = os.cpu_count,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.disk_path = disk_path
        self._cores = cpu_cores
        self._clock = clock
        self._rate: Rate | None = None
        self._measured_at: float | None = None
        self._static = MachineSpecs(
            cpu_model=cpu_model(_read("/proc/cpuinfo")),
            ram_mib=mem_total_mib(_read("/proc/meminfo")),
        )

    def current(self) -> MachineSpecs:
        try:
            stat = os.statvfs(self.disk_path)
            disk = stat.f_bavail * stat.f_frsize // _GIB
        except OSError:
            disk = None
        rate = self._rate
        return self._static.model_copy(
            update={
                "cpu_cores": self._cores(),
                "disk_free_gib": disk,
                "net_down_mbps": rate.down_mbps if rate else None,
                "net_up_mbps": rate.up_mbps if rate else None,
            }
        )

    def due(self) -> bool:
        return self._measured_at is None or self._clock() - self._measured_at > SPEEDTEST_EVERY_S

    async def measure(
        self,
        download: Callable[[int], Awaitable[int]],
        upload: Callable[[int], Awaitable[int]],
        size: int = SPEEDTEST_BYTES,
    ) -> Rate | None:
        """Time one download and one upload of ``size`` bytes; None when either failed
        (the previous rate stays)."""
        self._measured_at = self._clock()
        try:
            t0 = time.perf_counter()
            got = await download(size)
            t1 = time.perf_counter()
            sent = await upload(size)
            t2 = time.perf_counter()
        except (OSError, TimeoutError, AgentError) as exc:
            log.warning("network rate not measured: %s", exc)
            return None
        self._rate = Rate(mbps(got, t1 - t0), mbps(sent, t2 - t1))
        log.info(
            "network rate to the service: %d Mbit/s down, %d up",
            self._rate.down_mbps,
            self._rate.up_mbps,
        )
        return self._rate
