from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_agent.nvml_probe import GpuProbe
from provider_agent.simulated_probe import MODELS, SimulatedProbe, parse_spec


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_spec_parsing() -> None:
    names = [m.name for m in parse_spec("4090x2, h100")]
    assert names == ["NVIDIA GeForce RTX 4090"] * 2 + ["NVIDIA H100 80GB HBM3"]
    assert len(parse_spec("RTX4090")) == 1 and len(parse_spec("rtx-3090x3")) == 3


@pytest.mark.parametrize(
    "spec", ["", "4090x0", "4090x17", "gtx1080", "4090,,h100", "h100x9,a100x9"]
)
def test_bad_spec_names_known_models(spec: str) -> None:
    with pytest.raises(ValueError, match="4090|at most 16"):
        SimulatedProbe(spec)


async def test_identities_are_stable_and_metrics_move_with_the_clock() -> None:
    clock = FakeClock()
    probe: GpuProbe = SimulatedProbe("4090x2,h100", seed=7, clock=clock)
    await probe.start()
    first = await probe.snapshot()
    clock.now += 240
    later = await probe.snapshot()
    await probe.close()
    assert [g.uuid for g in first] == [g.uuid for g in later]
    assert len({g.uuid for g in first}) == 3
    assert [g.utilization_pct for g in first] != [g.utilization_pct for g in later]
    assert first[0].ecc_errors is None and first[2].ecc_errors == 0  # GeForce has no ECC


async def test_same_seed_and_time_give_same_readings() -> None:
    a = SimulatedProbe("a100x2", seed=3, clock=FakeClock())
    b = SimulatedProbe("a100x2", seed=3, clock=FakeClock())
    c = SimulatedProbe("a100x2", seed=4, clock=FakeClock())
    ra, rb, rc = await asyncio.gather(a.snapshot(), b.snapshot(), c.snapshot())
    assert ra == rb and ra != rc


@settings(max_examples=200, deadline=None)
@given(
    now=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    seed=st.integers(0, 2**32),
    model=st.sampled_from(sorted(MODELS)),
)
def test_readings_are_plausible(now: float, seed: int, model: str) -> None:
    [gpu] = asyncio.run(SimulatedProbe(model, seed=seed, clock=lambda: now).snapshot())
    spec = MODELS[model]
    assert 0 <= gpu.utilization_pct <= 100
    assert 0 < gpu.vram_used_mib < gpu.vram_total_mib == spec.vram_mib
    assert 25 <= gpu.temperature_c <= 90
    assert spec.idle_w <= gpu.power_w <= spec.max_w
    assert gpu.process_count >= 0 and not gpu.lost
    assert all(isinstance(v, int) for v in (gpu.power_w, gpu.temperature_c, gpu.vram_used_mib))
