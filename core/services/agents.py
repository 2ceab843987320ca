"""Agent side of the service: heartbeats, inventory, offline detection, reliability.

Routine heartbeats (machine online, same inventory, no gap) take a fast path that writes many
beats in one transaction (:meth:`AgentService.heartbeat_many`); anything else goes through
:meth:`AgentService.heartbeat`, one unit of work per beat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import EvidenceRecord, Machine, stored_id
from core.domain.reliability import (
    HEARTBEAT_COVERAGE,
    HEARTBEAT_INTERVAL,
    ReliabilityInputs,
    reliability_score,
    response_seconds,
)
from core.domain.rentals import RentalState
from core.errors import CoreError, Forbidden
from core.notifications.providers import AgentOffline
from core.services.base import Service, UnitOfWork, enqueue, present
from core.services.inventory import sync_inventory
from core.services.isolation import reference
from core.services.machine_specs import (
    apply_offer,
    beat_ready,
    check_heartbeat,
    inventory_of,
    machine_ready,
    offer_of,
    spec_values,
)
from core.services.providers import hash_token
from core.services.verification import refresh_listings
from core.wire import Heartbeat, HeartbeatAck

log = logging.getLogger(__name__)

# rentals whose evidence a heartbeat gap becomes
_RUNNING = (RentalState.PROVISIONING, RentalState.ACTIVE)

# listings that follow the machine's liveness (a held or rented one is left alone)
_FOLLOWS_MACHINE = (ListingStatus.AVAILABLE, ListingStatus.OFFLINE)

SAMPLES_KEPT_S = 3 * 3600  # the /status chart shows the last hour; a little more is kept


class AgentService(Service):
    async def authenticate(self, token: str) -> int:
        """Machine id for an agent token; raise Forbidden for an unknown or revoked token."""
        if not token or len(token) > 200:
            raise Forbidden("Unknown agent token.")
        async with self.uow(readonly=True) as uow:
            machine = await uow.machines.by_token_hash(hash_token(token))
        if machine is None:
            raise Forbidden("Unknown agent token.")
        return stored_id(machine)

    async def machines_for_token_hashes(self, token_hashes: Sequence[str]) -> dict[str, int]:
        """Machine id of each still valid agent token hash (rotated ones are left out)."""
        found: dict[str, int] = {}
        async with self.uow(readonly=True) as uow:
            for i in range(0, len(token_hashes), 500):
                found |= await uow.machines.ids_by_token_hash(token_hashes[i : i + 500])
        return found

    async def heartbeat_many(
        self, beats: Sequence[tuple[str, Heartbeat]]
    ) -> list[HeartbeatAck | Exception]:
        """Record many ``(token hash, heartbeat)`` pairs; routine ones in one transaction.

        Returns one ack or one error per beat: Forbidden for an unknown or revoked token,
        ValidationError for a beat the service cannot store (``check_heartbeat``), the error
        of a beat that failed on its own path. Raises when the shared transaction fails
        (``HeartbeatBatcher`` then writes the beats apart).
        """
        now = self.clock.now()
        results: list[HeartbeatAck | Exception | None] = [None] * len(beats)
        slow: list[tuple[int, int]] = []
        async with self.uow() as uow:
            states = await uow.machines.beat_states(sorted({h for h, _ in beats}))
            rows, samples, seen = [], [], set()
            for i, (token_hash, hb) in enumerate(beats):
                state = states.get(token_hash)
                if state is None:
                    results[i] = Forbidden("Unknown agent token.")
                    continue
                try:
                    check_heartbeat(hb)
                except CoreError as exc:
                    results[i] = exc
                    continue
                last = state.last_heartbeat_at
                if (
                    state.status != MachineStatus.ONLINE
                    or hb.queued_s
                    or state.id in seen
                    or last is None
                    or now - last > HEARTBEAT_COVERAGE
                    or inventory_of(hb) != state.inventory
                    or offer_of(hb) != state.offer
                    or _endpoint(hb) != (state.ssh_host, state.ssh_port, state.host_key_fp)
                    or beat_ready(hb) != machine_ready(state)  # its listings' ``ready``
                ):
                    slow.append((i, state.id))
                    continue
                seen.add(state.id)
                if last // 60 != now // 60:  # the first beat of a minute is its sample
                    samples.append(_sample(state.id, hb, now))
                rows.append(
                    {
                        "b_id": state.id,
                        "b_at": now,
                        "b_covered": state.covered_seconds + max(0, now - last),
                        "b_metrics": _metrics(hb, now),
                        "b_version": hb.agent_version,
                        "b_host": hb.ssh_host,
                        "b_port": hb.ssh_port,
                        "b_fp": hb.host_key_fingerprint,
                        **{f"b_{k}": v for k, v in spec_values(hb).items()},
                    }
                )
                results[i] = HeartbeatAck(
                    machine_id=state.id, status=MachineStatus.ONLINE, next_in_s=HEARTBEAT_INTERVAL
                )
            await uow.machines.apply_beats(rows)
            await uow.gpu_samples.record(samples)
            await uow.commit()
        for i, machine_id in slow:  # each alone: one that fails never fails the others
            # on SQLite the statements run inline and never yield: without this turn, a batch
            # of slow beats (every machine after an outage) holds every chat update meanwhile
            await asyncio.sleep(0)
            try:
                results[i] = await self.heartbeat(machine_id, beats[i][1])
            except CoreError as exc:
                results[i] = exc
            except Exception as exc:
                ref = reference("heartbeat")
                log.exception("heartbeat of machine %s failed, reference %s", machine_id, ref)
                results[i] = exc
        # every beat got its ack or error above: in the fast loop or on the slow path
        answers: list[HeartbeatAck | Exception] = []
        for i, answer in enumerate(results):
            if answer is None:
                raise ValueError(f"heartbeat {i} of the batch got no answer")
            answers.append(answer)
        return answers

    async def heartbeat(self, machine_id: int, hb: Heartbeat) -> HeartbeatAck:
        """Record liveness and metrics; create listings for new GPUs, suspend mismatches.

        A beat the agent had buffered during an outage (``queued_s`` > 0) only becomes
        evidence for the machine's running rentals. Raises Forbidden for an unknown machine,
        ValidationError for a beat the service cannot store (nothing is stored then).
        """
        now = self.clock.now()
        check_heartbeat(hb)
        if hb.queued_s:
            return await self._late_beat(machine_id, hb, now)
        async with self.uow() as uow:
            machine = await uow.machines.get(machine_id)
            if machine is None:
                raise Forbidden("Unknown agent token.")
            if machine.last_heartbeat_at is not None:
                gap = max(0, now - machine.last_heartbeat_at)
                machine.covered_seconds += min(gap, HEARTBEAT_COVERAGE)
                if gap > HEARTBEAT_COVERAGE:
                    data = {"source": "service", "from": machine.last_heartbeat_at, "to": now}
                    await _evidence(
                        uow, machine_id, "heartbeat_gap", now, {**data, "silent_s": gap}
                    )
            machine.first_seen_at = machine.first_seen_at or now
            last = machine.last_heartbeat_at
            if last is None or last // 60 != now // 60:
                await uow.gpu_samples.record([_sample(machine_id, hb, now)])
            machine.last_heartbeat_at = now
            machine.agent_version = hb.agent_version
            machine.ssh_host, machine.ssh_port = hb.ssh_host, hb.ssh_port
            machine.host_key_fingerprint = hb.host_key_fingerprint
            machine.metrics = _metrics(hb, now)
            was_ready = machine_ready(machine)
            for key, value in spec_values(hb).items():
                setattr(machine, key, value)
            inventory, offer = inventory_of(hb), offer_of(hb)
            if inventory != machine.inventory or offer != machine.offer:
                machine.inventory = inventory
                apply_offer(machine, hb)
                await sync_inventory(uow, machine, hb, now)
            # the endpoint, host key or GPUs may differ from what the service probed
            await refresh_listings(uow, machine, now)
            if machine_ready(machine) != was_ready:
                await uow.listings.set_ready_for_machine(machine_id, machine_ready(machine))
            if machine.status in (MachineStatus.PENDING, MachineStatus.OFFLINE):
                machine.status = MachineStatus.ONLINE
                await self._follow_machine(uow, machine, ListingStatus.AVAILABLE)
            await uow.commit()
            return HeartbeatAck(
                machine_id=machine_id, status=machine.status, next_in_s=HEARTBEAT_INTERVAL
            )

    async def _late_beat(self, machine_id: int, hb: Heartbeat, now: int) -> HeartbeatAck:
        async with self.uow() as uow:
            machine = await uow.machines.get(machine_id)
            if machine is None:
                raise Forbidden("Unknown agent token.")
            data = {
                "source": "agent",
                "seq": hb.seq,
                "sent_at": hb.sent_at,
                "queued_s": hb.queued_s,
                "gpus": len(hb.gpus),
                "gpus_lost": sum(1 for g in hb.gpus if g.lost),
            }
            await _evidence(uow, machine_id, "heartbeat_gap", now, data)
            await uow.commit()
            return HeartbeatAck(
                machine_id=machine_id, status=machine.status, next_in_s=HEARTBEAT_INTERVAL
            )

    async def _follow_machine(self, uow: UnitOfWork, machine: Machine, status: str) -> None:
        for x in await uow.listings.for_machine(stored_id(machine)):
            if x.status in _FOLLOWS_MACHINE and x.price_per_hour > 0:
                x.move_to(status)

    async def mark_silent_offline(self) -> int:
        """Machines that missed two heartbeats go offline and stop being offered."""
        now = self.clock.now()
        async with self.uow() as uow:
            silent = await uow.machines.silent_since(now - HEARTBEAT_COVERAGE)
            for m in silent:
                m.status = MachineStatus.OFFLINE
                await uow.listings.set_status_for_machine(
                    stored_id(m), [ListingStatus.AVAILABLE], ListingStatus.OFFLINE
                )
                provider = await uow.providers.get(m.provider_id)
                if provider is not None:
                    await enqueue(
                        uow,
                        AgentOffline(m.name, m.last_heartbeat_at),
                        user_id=provider.user_id,
                        dedupe_key=f"offline:{m.id}:{m.last_heartbeat_at}",
                        now=now,
                    )
            await uow.commit()
        return len(silent)

    async def prune_samples(self, keep_s: int = SAMPLES_KEPT_S) -> int:
        """Drop GPU samples older than ``keep_s`` (the keeper runs this); returns how many."""
        async with self.uow() as uow:
            gone = await uow.gpu_samples.prune(self.clock.now() - keep_s)
            await uow.commit()
        return gone

    async def refresh_all_reliability(self) -> int:
        """Recompute every machine's score (the keeper does this every few minutes)."""
        async with self.uow(readonly=True) as uow:
            machine_ids = await uow.machines.all_ids()
        for machine_id in machine_ids:
            await self.refresh_reliability(machine_id)
        return len(machine_ids)

    async def refresh_reliability(self, machine_id: int) -> int:
        """Recompute a machine's score from its evidence and store it on its listings."""
        now = self.clock.now()
        async with self.uow() as uow:
            m = present(await uow.machines.get(machine_id), f"machine {machine_id}")
            completed, lost, rating_sum, rating_count = await uow.rentals.stats_for_machine(
                machine_id
            )
            responses = [
                response_seconds(funded, granted if granted is not None else started)
                for funded, granted, started, state in await uow.rentals.response_samples(
                    machine_id
                )
                # still being provisioned: no answer yet either way
                if granted is not None
                or started is not None
                or state not in (RentalState.FUNDED, RentalState.PROVISIONING)
            ]
            score = reliability_score(
                ReliabilityInputs(
                    observed_seconds=now - m.first_seen_at if m.first_seen_at else 0,
                    covered_seconds=m.covered_seconds,
                    completed_rentals=completed,
                    disputes_lost=lost,
                    rating_sum=rating_sum,
                    rating_count=rating_count,
                    responses=len(responses),
                    response_seconds=sum(responses),
                )
            )
            await uow.listings.set_reliability_for_machine(machine_id, score)
            await uow.commit()
        return score


def _endpoint(hb: Heartbeat) -> tuple[str | None, int | None, str | None]:
    """Where renters connect: a change may void the service's verification (slow path)."""
    return hb.ssh_host, hb.ssh_port, hb.host_key_fingerprint


def _sample(machine_id: int, hb: Heartbeat, now: int) -> dict[str, object]:
    gpus = [[g.utilization_pct, g.temperature_c] for g in hb.gpus]
    return {
        "machine_id": machine_id,
        "minute": now // 60 * 60,
        "gpus_json": gpus,
    }


def _metrics(hb: Heartbeat, now: int) -> dict[str, object]:
    gpus = [
        {"id": g.uuid, "u": g.utilization_pct, "t": g.temperature_c, "m": g.vram_used_mib}
        for g in hb.gpus
    ]
    return {"at": now, "gpus": gpus}


async def _evidence(
    uow: UnitOfWork, machine_id: int, kind: str, now: int, data: dict[str, object]
) -> None:
    """Stage one evidence record per rental running on the machine."""
    for rental_id in await uow.rentals.on_machine(machine_id, _RUNNING):
        uow.evidence.add(EvidenceRecord(machine_id, rental_id, kind, now, now, dict(data)))
