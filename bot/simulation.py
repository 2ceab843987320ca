"""Simulated providers for the embedded default: real services, simulated GPU hosts.

Each simulated provider registers, adds a machine and prices it through the same services a
real provider uses; its "agent" is an in-process loop that sends the same heartbeat messages
(core.wire) the real agent sends, with specs and an instance offer of ``backend="simulated"``
(core/fakes/hosts.py), and answers grants with the instance it pretends to run. The market history (30 days of uptime) is backdated so the
reliability figures look like a running marketplace; everything is labelled simulated.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.bootstrap import App
from core.domain.model import Provider
from core.fakes.hosts import (
    CUDA_VERSION,
    DRIVER_VERSION,
    SIMULATED_FINGERPRINT,
    simulated_access,
    simulated_offer,
    simulated_specs,
)
from core.wire import CommandResult, GpuInfo, Heartbeat, ResultBatch

log = logging.getLogger(__name__)

# (model key, NVML product name, memory MiB, typical $/GPU-hour in micro-USDC)
GPU_TYPES = {
    "rtx3090": ("NVIDIA GeForce RTX 3090", 24576, 220_000),
    "rtx4090": ("NVIDIA GeForce RTX 4090", 24564, 390_000),
    "rtx5090": ("NVIDIA GeForce RTX 5090", 32607, 690_000),
    "rtxa6000": ("NVIDIA RTX A6000", 49140, 490_000),
    "l4": ("NVIDIA L4", 23034, 290_000),
    "a100-80gb": ("NVIDIA A100-SXM4-80GB", 81920, 1_190_000),
    "h100": ("NVIDIA H100 80GB HBM3", 81559, 1_990_000),
    "h200": ("NVIDIA H200", 143771, 2_990_000),
}

# (provider name, region, [(model, count)], price factor in percent, uptime in bps)
FLEET = [
    ("sim-berlin", "eu-central", [("rtx4090", 1), ("rtx4090", 1), ("rtx3090", 1)], 100, 9_950),
    ("sim-frankfurt", "eu-central", [("h100", 1), ("a100-80gb", 1)], 105, 9_990),
    ("sim-virginia", "us-east", [("rtx4090", 1), ("l4", 1)], 90, 9_700),
    ("sim-oregon", "us-west", [("rtx5090", 1), ("rtxa6000", 1)], 110, 9_900),
    ("sim-helsinki", "eu-north", [("h200", 1), ("rtx4090", 1)], 95, 9_850),
    ("sim-tokyo", "asia-east", [("rtx3090", 1), ("h100", 1)], 85, 9_200),
]


@dataclass
class SimulatedHost:
    machine_id: int
    gpus: list[str]
    seq: int = 0
    after: int = 0  # last command seq seen

    def heartbeat(self, now: int) -> Heartbeat:
        self.seq += 1
        return Heartbeat(
            agent_version="simulated",
            seq=self.seq,
            sent_at=now,
            gpus=[
                GpuInfo(
                    index=i,
                    uuid=f"GPU-sim-{self.machine_id:04d}-{i}",
                    name=GPU_TYPES[k][0],
                    vram_total_mib=GPU_TYPES[k][1],
                    vram_used_mib=(self.seq * 37 + i) % 2048,
                    utilization_pct=(self.seq * 13 + i * 7) % 100,
                    temperature_c=38 + (self.seq + i) % 30,
                    power_w=60 + (self.seq * 11) % 300,
                    ecc_errors=0,
                    process_count=0,
                    pcie_gen=4,
                    pcie_width=16,
                )
                for i, k in enumerate(self.gpus)
            ],
            driver_version=DRIVER_VERSION,
            cuda_version=CUDA_VERSION,
            ssh_host="127.0.0.1",
            ssh_port=2222,
            host_key_fingerprint=SIMULATED_FINGERPRINT,
            machine=simulated_specs(len(self.gpus)),
            offer=simulated_offer(),
        )


async def seed_market(app: App, count: int) -> list[SimulatedHost]:
    """Create up to ``count`` simulated providers (once); return their hosts."""
    hosts: list[SimulatedHost] = []
    now = app.clock.now()
    for i in range(count):
        name, region, gpus, factor, uptime = FLEET[i % len(FLEET)]
        if i >= len(FLEET):
            name = f"{name}-{i // len(FLEET)}"
        who = await app.users.identify("simulated", name, name)
        async with app.providers.uow(readonly=True) as uow:
            provider = await uow.providers.by_user(who.user_id)
            machines = await uow.machines.for_provider(provider.id) if provider else []
        models = [m for m, n in gpus for _ in range(n)]
        if machines:
            hosts.append(SimulatedHost(machines[0].id, models))
            continue
        # simulated hosts are not people with wallets: their payout rows are seeded directly
        # (a person's /register needs the payout wallet's signature)
        async with app.providers.uow() as uow:
            uow.providers.add(Provider(who.user_id, "0x" + f"{i + 1:x}".rjust(40, "5"), now))
            await uow.commit()
        token = await app.providers.add_machine(who, f"{name}-1", region)
        machine_id = await app.agents.authenticate(token.token)
        host = SimulatedHost(machine_id, models)
        await app.agents.heartbeat(machine_id, host.heartbeat(now))
        for model in {m for m, _ in gpus}:
            price = GPU_TYPES[model][2] * factor // 100
            await app.providers.set_price(who, f"{name}-1", price, model)
        await _backdate(app, machine_id, now, uptime)
        hosts.append(host)
    return hosts


async def _backdate(app: App, machine_id: int, now: int, uptime_bps: int) -> None:
    """Give a simulated machine 30 days of heartbeat history at ``uptime_bps``."""
    window = 30 * 86_400
    async with app.providers.uow() as uow:
        m = await uow.machines.get(machine_id)
        m.first_seen_at = now - window
        m.covered_seconds = window * uptime_bps // 10_000
        await uow.commit()
    await app.agents.refresh_reliability(machine_id)


async def heartbeat_loop(app: App, hosts: list[SimulatedHost], interval: float = 15.0) -> None:
    """Stand-in for the agents' heartbeat loops (same messages, sent in-process)."""
    while True:
        for host in hosts:
            try:
                await app.agents.heartbeat(host.machine_id, host.heartbeat(app.clock.now()))
            except Exception:
                log.exception("simulated heartbeat failed")
        await asyncio.sleep(interval)


async def command_loop(app: App, hosts: list[SimulatedHost], interval: float = 0.5) -> None:
    """Stand-in for the agents' command loops when grants go through the agent API: the
    simulated hosts answer every grant and revoke at once (no SSH server behind them)."""
    while True:
        for host in hosts:
            try:
                await answer_commands(app, host)
            except Exception:
                log.exception("simulated command handling failed")
        await asyncio.sleep(interval)


async def answer_commands(app: App, host: SimulatedHost) -> int:
    batch = await app.agent_commands.pending(host.machine_id, host.after)
    results = []
    for cmd in batch.commands:
        host.after = max(host.after, cmd.seq)
        access = simulated_access(cmd) if cmd.kind == "grant" else None
        results.append(CommandResult(command_id=cmd.id, ok=True, access=access))
    if results:
        await app.agent_commands.record_results(host.machine_id, ResultBatch(results=results))
    return len(results)
