"""Fake GPUs for ``rigshare-agent --simulate "4090x2,h100"``: stable identities, moving metrics.

Metrics are a pure function of (seed, GPU index, clock()), so tests drive them with a fake clock
and two probes with the same seed report the same numbers at the same instant.
"""

from __future__ import annotations

import math
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from provider_agent.nvml_probe import GpuReading


@dataclass(frozen=True, slots=True)
class SimModel:
    name: str
    vram_mib: int
    idle_w: int
    max_w: int
    ecc: bool


# Self-contained on purpose (the shared GPU catalogue lives in core.domain and may differ).
MODELS: dict[str, SimModel] = {
    "3090": SimModel("NVIDIA GeForce RTX 3090", 24576, 30, 350, False),
    "4080": SimModel("NVIDIA GeForce RTX 4080", 16376, 20, 320, False),
    "4090": SimModel("NVIDIA GeForce RTX 4090", 24564, 25, 450, False),
    "5090": SimModel("NVIDIA GeForce RTX 5090", 32607, 30, 575, False),
    "a6000": SimModel("NVIDIA RTX A6000", 49140, 25, 300, True),
    "l4": SimModel("NVIDIA L4", 23034, 15, 72, True),
    "l40s": SimModel("NVIDIA L40S", 46068, 35, 350, True),
    "a100": SimModel("NVIDIA A100-SXM4-80GB", 81920, 60, 400, True),
    "h100": SimModel("NVIDIA H100 80GB HBM3", 81559, 70, 700, True),
    "h200": SimModel("NVIDIA H200", 143771, 75, 700, True),
    "t4": SimModel("Tesla T4", 15360, 10, 70, True),
    "v100": SimModel("Tesla V100-SXM2-32GB", 32768, 40, 300, True),
}
_TOKEN = re.compile(r"^(?P<model>[a-z0-9]+?)(?:x(?P<count>\d{1,2}))?$")
_DRIVER = "550.54.15"
_CUDA = "12.4"


def simulated_uuid(index: int, seed: int = 0) -> str:
    """The UUID of fake GPU ``index``, NVML's "GPU-<uuid>" form, stable for a seed (the test
    engines' fake GPU nodes carry the same ones, so their stand-in nvidia-smi can name them)."""
    return "GPU-" + str(uuid.UUID(int=random.Random(f"{seed}:{index}:uuid").getrandbits(128)))


def parse_spec(spec: str) -> list[SimModel]:
    """``"4090x2,h100"`` -> three models. Raises ValueError naming the known models."""
    models: list[SimModel] = []
    for raw in spec.split(","):
        token = raw.strip().lower().removeprefix("rtx-").removeprefix("rtx")
        match = _TOKEN.match(token)
        model = MODELS.get(match["model"]) if match else None
        count = int(match["count"] or 1) if match else 0
        if model is None or not 1 <= count <= 16:
            known = ", ".join(sorted(MODELS))
            raise ValueError(
                f"bad --simulate entry {raw.strip()!r}: use MODEL or MODELxN (N 1-16), "
                f"MODEL one of {known}"
            )
        models.extend([model] * count)
    if len(models) > 16:
        raise ValueError("--simulate supports at most 16 GPUs per host")
    return models


class SimulatedProbe:
    """A :class:`~provider_agent.nvml_probe.GpuProbe` over fake GPUs.

    Raises ValueError at construction for a bad spec; never raises afterwards.
    """

    def __init__(self, spec: str, *, seed: int = 0, clock: Callable[[], float] = time.time) -> None:
        self._models = parse_spec(spec)
        self._seed = seed
        self._clock = clock
        self._phase = []
        self._period = []
        for index in range(len(self._models)):
            rng = random.Random(f"{seed}:{index}:shape")
            self._phase.append(rng.uniform(0.0, 2 * math.pi))
            self._period.append(rng.uniform(180.0, 900.0))
        self._uuids = [simulated_uuid(i, seed) for i in range(len(self._models))]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def snapshot(self) -> list[GpuReading]:
        now = self._clock()
        return [self._reading(i, model, now) for i, model in enumerate(self._models)]

    def _reading(self, index: int, model: SimModel, now: float) -> GpuReading:
        wave = math.sin(2 * math.pi * now / self._period[index] + self._phase[index])
        jitter = random.Random(f"{self._seed}:{index}:{int(now)}")
        util = max(0, min(100, round(50 + 45 * wave + jitter.uniform(-4, 4))))
        busy = util / 100
        return GpuReading(
            index=index,
            uuid=self._uuids[index],
            name=model.name,
            vram_total_mib=model.vram_mib,
            vram_used_mib=int(model.vram_mib * (0.02 + 0.9 * busy)),
            utilization_pct=util,
            temperature_c=round(34 + 48 * busy + jitter.uniform(-1, 1)),
            power_w=round(model.idle_w + (model.max_w - model.idle_w) * busy),
            driver_version=_DRIVER,
            cuda_version=_CUDA,
            ecc_errors=0 if model.ecc else None,
            process_count=0 if util < 10 else 1 + util // 50,
            pcie_gen=4,
            pcie_width=16,
            minor=index,
        )
