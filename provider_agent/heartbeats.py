"""Heartbeats from GPU readings, and the bounded buffer that keeps them through an outage."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from core.domain.limits import (
    MAX_AGENT_VERSION,
    MAX_CUDA_VERSION,
    MAX_DRIVER_VERSION,
    MAX_GPU_NAME,
    MAX_GPU_UUID,
)
from core.wire import MAX_GPUS, GpuInfo, Heartbeat, InstanceOffer, MachineSpecs, printable
from provider_agent.nvml_probe import GpuProbe, GpuReading

log = logging.getLogger(__name__)
MAX_QUEUED_S = 30 * 86_400


@dataclass(frozen=True, slots=True)
class SshEndpoint:
    """Where renters connect, and the host key fingerprint they can check."""

    host: str
    port: int | None = None  # instances publish their own SSH port
    host_key_fingerprint: str | None = None  # each instance has its own host key


def _bounded(value: int | None, low: int, high: int) -> int | None:
    """NVML can report nonsense (a sensor glitch); out-of-range reads as "n/a"."""
    if value is None or not low <= value <= high:
        return None
    return value


def gpu_info(r: GpuReading) -> GpuInfo:
    return GpuInfo(
        index=min(max(r.index, 0), 63),
        uuid=printable(r.uuid or "n/a", MAX_GPU_UUID),
        name=printable(r.name or "n/a", MAX_GPU_NAME),
        vram_total_mib=_bounded(r.vram_total_mib, 0, 4_000_000),
        vram_used_mib=_bounded(r.vram_used_mib, 0, 4_000_000),
        utilization_pct=_bounded(r.utilization_pct, 0, 100),
        temperature_c=_bounded(r.temperature_c, -50, 200),
        power_w=_bounded(r.power_w, 0, 10_000),
        ecc_errors=_bounded(r.ecc_errors, 0, 2**62),
        process_count=_bounded(r.process_count, 0, 100_000),
        lost=r.lost,
        pcie_gen=_bounded(r.pcie_gen, 1, 16),
        pcie_width=_bounded(r.pcie_width, 1, 64),
    )


def build_heartbeat(
    readings: Sequence[GpuReading],
    *,
    seq: int,
    sent_at: int,
    version: str,
    endpoint: SshEndpoint | None,
    machine: MachineSpecs | None = None,
    offer: InstanceOffer | None = None,
) -> Heartbeat:
    if len(readings) > MAX_GPUS:
        log.warning("%d GPUs found; reporting the first %d", len(readings), MAX_GPUS)
    known = next((r for r in readings if r.driver_version or r.cuda_version), None)
    driver = known.driver_version if known else None
    cuda = known.cuda_version if known else None
    return Heartbeat(
        agent_version=printable(version, MAX_AGENT_VERSION),
        seq=seq,
        sent_at=sent_at,
        gpus=[gpu_info(r) for r in readings[:MAX_GPUS]],
        driver_version=printable(driver, MAX_DRIVER_VERSION) if driver else None,
        cuda_version=printable(cuda, MAX_CUDA_VERSION) if cuda else None,
        ssh_host=endpoint.host if endpoint else None,
        ssh_port=endpoint.port if endpoint else None,
        host_key_fingerprint=endpoint.host_key_fingerprint if endpoint else None,
        machine=machine,
        offer=offer,
    )


class GpuInventory:
    """The host's GPUs as the last snapshot saw them: UUID -> device minor (what a container
    backend binds). Reads the probe itself when no heartbeat has run yet."""

    def __init__(self, probe: GpuProbe) -> None:
        self._probe = probe
        self._minors: dict[str, int] = {}

    def update(self, readings: Sequence[GpuReading]) -> None:
        self._minors = {
            r.uuid: (r.minor if r.minor is not None else r.index)
            for r in readings
            if r.uuid and not r.lost
        }

    async def current(self) -> dict[str, int]:
        if not self._minors:
            self.update(await self._probe.snapshot())
        return dict(self._minors)


class HeartbeatBuffer:
    """Beats that could not be sent, oldest first; when full the oldest is dropped."""

    def __init__(self, size: int) -> None:
        self._beats: deque[tuple[float, Heartbeat]] = deque(maxlen=size)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._beats)

    def add(self, hb: Heartbeat, created_at: float) -> None:
        if len(self._beats) == self._beats.maxlen:
            self.dropped += 1
        self._beats.append((created_at, hb))

    def oldest(self, now: float) -> Heartbeat | None:
        """The oldest beat, marked with how long it waited (at least 1 s)."""
        if not self._beats:
            return None
        created_at, hb = self._beats[0]
        queued = min(MAX_QUEUED_S, max(1, int(now - created_at)))
        return hb.model_copy(update={"queued_s": queued})

    def pop_oldest(self) -> None:
        self._beats.popleft()
