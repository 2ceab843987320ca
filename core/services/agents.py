"""Agent side of the service: heartbeats, inventory, offline detection, reliability."""

from __future__ import annotations

import json
from collections import Counter

from core.domain.gpus import get_model, model_from_nvml
from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import Listing, Machine
from core.domain.reliability import (
    HEARTBEAT_COVERAGE,
    HEARTBEAT_INTERVAL,
    ReliabilityInputs,
    reliability_score,
)
from core.errors import Forbidden
from core.services.base import Service, UnitOfWork
from core.services.providers import hash_token
from core.wire import Heartbeat, HeartbeatAck

# listings that follow the machine's liveness (a held or rented one is left alone)
_FOLLOWS_MACHINE = (ListingStatus.AVAILABLE, ListingStatus.OFFLINE)


class AgentService(Service):
    async def authenticate(self, token: str) -> int:
        """Machine id for an agent token; raise Forbidden for an unknown or revoked token."""
        if not token or len(token) > 200:
            raise Forbidden("Unknown agent token.")
        async with self.uow(readonly=True) as uow:
            machine = await uow.machines.by_token_hash(hash_token(token))
        if machine is None:
            raise Forbidden("Unknown agent token.")
        return machine.id

    async def heartbeat(self, machine_id: int, hb: Heartbeat) -> HeartbeatAck:
        """Record liveness and metrics; create listings for new GPUs, suspend mismatches."""
        now = self.clock.now()
        async with self.uow() as uow:
            machine = await uow.machines.get(machine_id)
            if machine is None:
                raise Forbidden("Unknown agent token.")
            if machine.last_heartbeat_at is not None:
                gap = max(0, now - machine.last_heartbeat_at)
                machine.covered_seconds += min(gap, HEARTBEAT_COVERAGE)
            machine.first_seen_at = machine.first_seen_at or now
            machine.last_heartbeat_at = now
            machine.agent_version = hb.agent_version
            machine.ssh_host, machine.ssh_port = hb.ssh_host, hb.ssh_port
            machine.host_key_fingerprint = hb.host_key_fingerprint
            machine.metrics_json = json.dumps(
                {
                    "at": now,
                    "gpus": [
                        {"u": g.utilization_pct, "t": g.temperature_c, "m": g.vram_used_mib}
                        for g in hb.gpus
                    ],
                },
                separators=(",", ":"),
            )
            inventory = [g.model_dump(include={"name", "uuid", "vram_total_mib"}) for g in hb.gpus]
            inventory_json = json.dumps(inventory, sort_keys=True)
            if inventory_json != machine.inventory_json:
                machine.inventory_json = inventory_json
                await self._sync_listings(uow, machine, hb)
            if machine.status in (MachineStatus.PENDING, MachineStatus.OFFLINE):
                machine.status = MachineStatus.ONLINE
                await self._follow_machine(uow, machine, ListingStatus.AVAILABLE)
            await uow.commit()
            return HeartbeatAck(
                machine_id=machine.id, status=machine.status, next_in_s=HEARTBEAT_INTERVAL
            )

    async def _sync_listings(self, uow: UnitOfWork, machine: Machine, hb: Heartbeat) -> None:
        """One listing per GPU model on the machine; a listing whose GPUs vanished or changed
        model is suspended (the agent reported a different GPU than the listing)."""
        counts: Counter[str] = Counter()
        for g in hb.gpus:
            model = model_from_nvml(g.name, g.vram_total_mib)
            if model is not None and not g.lost:
                counts[model.key] += 1
        existing = {x.gpu_model: x for x in await uow.listings.for_machine(machine.id)}
        for key, listing in existing.items():
            if counts.get(key, 0) < listing.gpu_count:
                if listing.status in (
                    ListingStatus.AVAILABLE,
                    ListingStatus.OFFLINE,
                    ListingStatus.PAUSED,
                    ListingStatus.HELD,
                ):
                    listing.status = ListingStatus.SUSPENDED
            elif listing.status == ListingStatus.SUSPENDED:
                listing.status = (
                    ListingStatus.PAUSED
                    if listing.price_per_hour == 0
                    else (ListingStatus.AVAILABLE)
                )
        for key, n in counts.items():
            if key in existing:
                continue
            model = get_model(key)
            uow.listings.add(
                Listing(
                    machine_id=machine.id,
                    provider_id=machine.provider_id,
                    gpu_model=key,
                    gpu_count=n,
                    vram_gb=model.vram_gb,
                    price_per_hour=0,
                    region=machine.region,
                    created_at=self.clock.now(),
                    status=ListingStatus.PAUSED,  # offered once the provider sets a price
                    verified=True,  # the model was read through NVML, not typed in
                )
            )

    async def _follow_machine(self, uow: UnitOfWork, machine: Machine, status: str) -> None:
        for x in await uow.listings.for_machine(machine.id):
            if x.status in _FOLLOWS_MACHINE and x.price_per_hour > 0:
                x.status = status

    async def mark_silent_offline(self) -> int:
        """Machines that missed two heartbeats go offline and stop being offered."""
        now = self.clock.now()
        async with self.uow() as uow:
            silent = await uow.machines.silent_since(now - HEARTBEAT_COVERAGE)
            for m in silent:
                m.status = MachineStatus.OFFLINE
                await uow.listings.set_status_for_machine(
                    m.id, [ListingStatus.AVAILABLE], ListingStatus.OFFLINE
                )
            await uow.commit()
        return len(silent)

    async def refresh_reliability(self, machine_id: int) -> int:
        """Recompute a machine's score from its evidence and store it on its listings."""
        now = self.clock.now()
        async with self.uow() as uow:
            m = await uow.machines.get(machine_id)
            completed, lost, rating_sum, rating_count = await uow.rentals.stats_for_machine(
                machine_id
            )
            score = reliability_score(
                ReliabilityInputs(
                    observed_seconds=now - m.first_seen_at if m.first_seen_at else 0,
                    covered_seconds=m.covered_seconds,
                    completed_rentals=completed,
                    disputes_lost=lost,
                    rating_sum=rating_sum,
                    rating_count=rating_count,
                )
            )
            await uow.listings.set_reliability_for_machine(machine_id, score)
            await uow.commit()
        return score
