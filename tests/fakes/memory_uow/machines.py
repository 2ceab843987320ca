"""In-memory machines, their GPUs (held per rental) and their templates (core/db/machines.py
and core/db/gpus.py on dicts)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import Listing, Machine, MachineGpu, MachineTemplate
from tests.fakes.memory_uow.store import Table

log = logging.getLogger(__name__)


class MemoryMachines(Table):
    name = "machines"
    unique = (("agent_token_hash",), ("provider_id", "name"))

    async def get(self, machine_id: int) -> Machine | None:
        return self.rows.get(machine_id)

    async def by_token_hash(self, token_hash: str) -> Machine | None:
        return self.one(lambda m: m.agent_token_hash == token_hash)

    async def for_provider(self, provider_id: int) -> Sequence[Machine]:
        """The provider's machines, without the removed ones (kept for rental history)."""
        return self.where(
            lambda m: m.provider_id == provider_id and m.status != MachineStatus.REMOVED
        )

    async def by_name(self, provider_id: int, name: str) -> Machine | None:
        """The provider's machine of that name, in any case (removed ones are renamed
        ``~<id>``, so they are never found by a typed name)."""
        return self.one(lambda m: m.provider_id == provider_id and m.name.lower() == name.lower())

    async def silent_since(self, cutoff: int) -> Sequence[Machine]:
        return self.where(
            lambda m: (
                m.status == MachineStatus.ONLINE
                and m.last_heartbeat_at is not None
                and m.last_heartbeat_at < cutoff
            )
        )

    async def ids_by_token_hash(self, token_hashes: Sequence[str]) -> dict[str, int]:
        return {
            m.agent_token_hash: m.id
            for m in self.where(lambda m: m.agent_token_hash in token_hashes)
        }

    async def all_ids(self) -> list[int]:
        return [m.id for m in self.where(lambda m: True)]

    async def set_token_hash(self, machine_id: int, token_hash: str) -> None:
        machine = self.rows.get(machine_id)
        if machine is not None:
            machine.agent_token_hash = token_hash


class MemoryGpus(Table):
    """GPU rows; a GPU with a ``rental_id`` is held by that rental. ``Listing.free_gpus`` is
    kept in step by the same calls, as core/db/gpus.py keeps it."""

    name = "gpus"
    unique = (("machine_id", "uuid"),)

    async def for_machine(self, machine_id: int) -> Sequence[MachineGpu]:
        return sorted(self.where(lambda g: g.machine_id == machine_id), key=lambda g: (g.idx, g.id))

    def _free(self, listing_id: int) -> list[MachineGpu]:
        """The listing's present GPUs that nobody holds, lowest index first."""
        free = self.where(
            lambda g: g.listing_id == listing_id and g.present and g.rental_id is None
        )
        return sorted(free, key=lambda g: (g.idx, g.id))

    async def hold(
        self, listing_id: int, rental_id: int, count: int, until: int | None
    ) -> list[str] | None:
        """``count`` free GPUs of an offered listing for the rental, or None (nothing changes)
        when the listing is not offered or counts fewer free; all or nothing, like the SQL
        one's savepoint."""
        listing: Listing | None = self.uow.listings.rows.get(listing_id)
        if listing is None or listing.status != ListingStatus.AVAILABLE:
            return None
        if listing.free_gpus < count:
            return None
        picked = self._free(listing_id)[:count]
        if len(picked) != count:
            log.error("listing %s counted free GPUs it does not have", listing_id)
            return None
        listing.free_gpus -= count
        for gpu in picked:
            gpu.rental_id, gpu.hold_until = rental_id, until
        return [g.uuid for g in picked]

    async def keep(self, rental_id: int) -> int:
        held = self.where(lambda g: g.rental_id == rental_id)
        for gpu in held:
            gpu.hold_until = None
        return len(held)

    async def release(self, rental_id: int, listing_id: int) -> int:
        held = self.where(lambda g: g.rental_id == rental_id)
        for gpu in held:
            gpu.rental_id = gpu.hold_until = None
        listing: Listing | None = self.uow.listings.rows.get(listing_id)
        back = sum(1 for g in held if g.present)
        if listing is not None and back:
            listing.free_gpus += back
        return len(held)

    async def lock_listings(self, machine_id: int) -> None:
        """Nothing to wait for: one process, and no call yields inside a unit of work."""

    async def recount(self, machine_id: int) -> None:
        for listing in await self.uow.listings.for_machine(machine_id):
            listing.free_gpus = await self.free_count(listing.id)

    async def free_count(self, listing_id: int) -> int:
        return len(self._free(listing_id))


class MemoryTemplates(Table):
    name = "templates"

    @staticmethod
    def key(entity: MachineTemplate) -> tuple[int, str]:
        return (entity.machine_id, entity.name)

    async def for_machine(self, machine_id: int) -> Sequence[MachineTemplate]:
        return self.where(lambda t: t.machine_id == machine_id)  # by name: the key's order

    async def get(self, machine_id: int, name: str) -> MachineTemplate | None:
        return self.rows.get((machine_id, name))

    async def by_image(self, machine_id: int, image: str) -> MachineTemplate | None:
        return self.one(lambda t: t.machine_id == machine_id and t.image == image)

    def _offered_listings(self) -> list[Listing]:
        listings = self.uow.listings.rows.values()
        return sorted(
            (x for x in listings if x.status == ListingStatus.AVAILABLE), key=lambda x: x.id
        )

    async def any_offered(self, name: str) -> bool:
        machines = {x.machine_id for x in self._offered_listings()}
        return any(t.name == name and t.machine_id in machines for t in self.rows.values())

    async def replace(self, machine_id: int, templates: Sequence[MachineTemplate]) -> None:
        for old in await self.for_machine(machine_id):
            del self.rows[self.key(old)]
        for template in templates:
            self.add(template)

    async def offered(
        self, model: str | None, listing_id: int | None, limit: int = 500
    ) -> list[tuple[str, str, bool, int]]:
        """(name, title, jupyter, listing id) of the templates of offered, priced listings."""
        rows = [
            (t.name, t.title, t.jupyter, x.id)
            for x in self._offered_listings()
            if x.price_per_hour > 0
            and (model is None or x.gpu_model == model)
            and (listing_id is None or x.id == listing_id)
            for t in self.rows.values()
            if t.machine_id == x.machine_id
        ]
        return sorted(rows, key=lambda row: (row[0], row[3]))[:limit]
