"""In-memory rentals, dispute evidence and per-minute GPU samples (core/db/repositories.py,
core/db/commands.py and core/db/machines.py on dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.domain.model import EvidenceRecord, Rental
from core.domain.rentals import RentalState
from tests.fakes.memory_uow.store import Table, copy_of


class MemoryRentals(Table):
    name = "rentals"
    unique = (("escrow_id",), ("renter_id", "request_key"))

    async def get(self, rental_id: int, *, for_update: bool = False) -> Rental | None:
        return self.rows.get(rental_id)  # one process, no concurrent writer: no lock to take

    async def insert(self, rental: Rental) -> None:
        stored = copy_of(rental)  # the caller's object stays out of the unit of work, as in SQL
        self.add(stored)
        self.uow.flush_now()
        rental.id = stored.id

    async def cancel_quoted(self, rental_id: int, renter_id: int, reason: str) -> bool:
        rental = self.rows.get(rental_id)
        if rental is None or rental.renter_id != renter_id or rental.state != RentalState.QUOTED:
            return False
        rental.state, rental.cancel_reason = RentalState.CANCELLED.value, reason
        return True

    async def by_escrow_id(self, escrow_id: str) -> Rental | None:
        return self.one(lambda r: r.escrow_id == escrow_id)

    async def by_request(self, renter_id: int, request_key: str) -> Rental | None:
        return self.one(lambda r: (r.renter_id, r.request_key) == (renter_id, request_key))

    async def for_renter(
        self, renter_id: int, states: Sequence[str] | None = None, limit: int = 50
    ) -> Sequence[Rental]:
        hits = self.where(
            lambda r: r.renter_id == renter_id and (not states or r.state in states),
            newest_first=True,
        )
        return hits[:limit]

    async def for_provider(
        self, provider_id: int, states: Sequence[str] | None = None
    ) -> Sequence[Rental]:
        return self.where(
            lambda r: r.provider_id == provider_id and (not states or r.state in states),
            newest_first=True,
        )

    async def in_states(self, states: Sequence[str], limit: int = 500) -> Sequence[Rental]:
        return self.where(lambda r: r.state in states)[:limit]

    async def stats_for_machine(self, machine_id: int) -> tuple[int, int, int, int]:
        """(completed rentals, disputes lost, rating sum, rating count)."""
        rows = self.where(lambda r: r.machine_id == machine_id)
        ratings = [r.rating for r in rows if r.rating is not None]
        return (
            sum(1 for r in rows if r.state == RentalState.SETTLED),
            sum(1 for r in rows if r.dispute_outcome == "renter"),
            sum(ratings),
            len(ratings),
        )

    async def response_samples(
        self, machine_id: int, limit: int = 50
    ) -> Sequence[tuple[int, int | None, int | None, str]]:
        funded = self.where(
            lambda r: r.machine_id == machine_id and r.funded_at is not None, newest_first=True
        )
        return [(r.funded_at, r.access_granted_at, r.started_at, r.state) for r in funded[:limit]]

    async def without_gpus(self, machine_id: int, states: Sequence[str]) -> Sequence[Rental]:
        return self.where(
            lambda r: r.machine_id == machine_id and r.state in states and not r.gpu_uuids
        )

    async def on_machine(self, machine_id: int, states: Sequence[str]) -> Sequence[int]:
        return [
            r.id for r in self.where(lambda r: r.machine_id == machine_id and r.state in states)
        ]


class MemoryEvidence(Table):
    name = "evidence"

    async def for_rental(self, rental_id: int) -> Sequence[EvidenceRecord]:
        return sorted(self.where(lambda e: e.rental_id == rental_id), key=lambda e: (e.at, e.id))


@dataclass(eq=False)
class GpuSample:
    """One machine's GPUs in one minute (``gpu_samples``: no entity of its own)."""

    machine_id: int
    minute: int
    gpus_json: list[list[int]]  # the column's name; the mapping stores the list as JSON


class MemoryGpuSamples(Table):
    name = "gpu_samples"

    @staticmethod
    def key(entity: GpuSample) -> tuple[int, int]:
        return (entity.machine_id, entity.minute)

    async def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """A minute already sampled keeps its first sample (INSERT ... DO NOTHING)."""
        for row in rows:
            sample = GpuSample(row["machine_id"], row["minute"], row["gpus_json"])
            self.rows.setdefault(self.key(sample), sample)

    async def since(self, machine_id: int, minute: int) -> list[tuple[int, list[list[int]]]]:
        hits = self.where(lambda s: s.machine_id == machine_id and s.minute >= minute)
        return [(s.minute, s.gpus_json) for s in hits]

    async def prune(self, before_minute: int) -> int:
        old = self.where(lambda s: s.minute < before_minute)
        for s in old:
            del self.rows[self.key(s)]
        return len(old)
