"""In-memory listings and their search (core/db/listings.py on dicts): the same filters, the
same order, the same page and the same capped count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from core.db.listings import needs_machine
from core.domain.listings import COUNT_CAP, ListingQuery, ListingStatus, check_listing_move
from core.domain.model import Listing, Machine, MachineTemplate
from core.domain.regions import stored_words
from core.repo_ports import Offer
from tests.fakes.memory_uow.store import Table, at_least, at_most


def _order(sort: str) -> Callable[[Listing], tuple[Any, ...]]:
    """The sort key of each order the SQL search knows, ties broken by id as it breaks them."""
    if sort == "best":
        # the SQL divides exactly (SQLite: a float, PostgreSQL: NUMERIC), not quote_score's
        # floor: two listings whose floors tie are still ordered by their exact quotient
        return lambda x: (
            Fraction(x.price_per_hour * 10_000, x.reliability_bps),
            -x.reliability_bps,
            x.id,
        )
    if sort == "price":
        return lambda x: (x.price_per_hour, -x.reliability_bps, x.id)
    if sort == "reliability":
        return lambda x: (-x.reliability_bps, x.price_per_hour, x.id)
    if sort == "vram":
        return lambda x: (-x.vram_gb, x.price_per_hour, x.id)
    raise KeyError(sort)  # the SQL one's order table has no other entry either


class MemoryListings(Table):
    name = "listings"

    async def get(self, listing_id: int) -> Listing | None:
        return self.rows.get(listing_id)

    async def for_machine(self, machine_id: int) -> Sequence[Listing]:
        return self.where(lambda x: x.machine_id == machine_id)

    async def search(self, query: ListingQuery, now: int) -> list[Offer]:
        sort = query.sort
        if sort == "vram" and query.model:
            sort = "price"  # one model has one VRAM size: the order is the price order
        found = sorted(self._matches(query), key=_order(sort))
        page = found[query.offset : query.offset + query.limit]
        machines = self.uow.machines.rows
        return [Offer(x, machines[x.machine_id], x.free_gpus) for x in page]

    async def best_offer(
        self, query: ListingQuery, now: int
    ) -> tuple[Offer, MachineTemplate | None] | None:
        hits = await self.search(query, now)
        if not hits:
            return None
        ask, machine = query.instance, hits[0].machine
        if ask.template is not None:
            name = ask.template
        elif ask.image is not None:
            return hits[0], None  # found by image instead
        else:
            name = machine.default_template
        template = await self.uow.templates.get(machine.id, name) if name is not None else None
        return hits[0], template

    async def count_offerable(self, query: ListingQuery, now: int) -> int:
        return min(len(self._matches(query)), COUNT_CAP + 1)

    async def search_counted(self, query: ListingQuery, now: int) -> tuple[list[Offer], int]:
        return await self.search(query, now), await self.count_offerable(query, now)

    def _matches(self, query: ListingQuery) -> list[Listing]:
        machines = self.uow.machines.rows
        templates = list(self.uow.templates.rows.values())
        need = max(1, query.gpu_count or 1)
        regions = stored_words(query.region) if query.region else None

        def listed(x: Listing) -> bool:
            return (
                x.status == ListingStatus.AVAILABLE
                and (not query.model or x.gpu_model == query.model)
                and (query.listing_id is None or x.id == query.listing_id)
                and (need == 1 or x.gpu_count >= need)
                and x.free_gpus >= need
                and (not query.min_vram_gb or x.vram_gb >= query.min_vram_gb)
                and (query.max_vram_gb is None or x.vram_gb <= query.max_vram_gb)
                and (
                    query.max_price_per_hour is None or x.price_per_hour <= query.max_price_per_hour
                )
                and (regions is None or x.region in regions)
                and (
                    not query.min_reliability_bps or x.reliability_bps >= query.min_reliability_bps
                )
                and (not query.verified_only or x.verified)
                and x.id not in query.exclude_ids
            )

        def runs(m: Machine) -> bool:
            """The machine: an instance host with complete specs that runs what was asked."""
            ask = query.instance
            mine = [t for t in templates if t.machine_id == m.id]
            return (
                m.backend is not None
                and m.share_ram_mib is not None
                and (not query.min_ram_gb or at_least(m.share_ram_mib, query.min_ram_gb * 1024))
                and (not query.min_disk_gb or at_least(m.share_disk_gib, query.min_disk_gb))
                and (
                    not query.min_cpu_cores
                    or at_least(m.share_cpu_millis, query.min_cpu_cores * 1000)
                )
                and (not query.min_cuda or at_least(m.cuda_number, query.min_cuda))
                and (
                    ask.template is not None
                    or ask.image is not None
                    or m.default_template is not None
                )
                and (ask.template is None or any(t.name == ask.template for t in mine))
                and (
                    ask.image is None
                    # "registries LIKE '% <registry> %'": stored as " a b " (lower case)
                    or (m.custom_images and f" {ask.image.registry} " in m.registries)
                    or any(t.image == ask.image.reference for t in mine)
                )
                and (not ask.ports or m.max_ports >= len(ask.ports))
                # the share of ``need`` GPUs, floor(disk * need / total) >= asked
                and (
                    not ask.disk_gb
                    or at_most(
                        ask.disk_gb * m.gpu_total,
                        None if m.disk_free_gib is None else m.disk_free_gib * need,
                    )
                )
            )

        if not needs_machine(query):
            return [x for x in self.rows.values() if listed(x) and x.ready]
        return [x for x in self.rows.values() if listed(x) and runs(machines[x.machine_id])]

    async def set_status_for_machine(
        self, machine_id: int, from_statuses: Sequence[str], to_status: str
    ) -> int:
        for status in from_statuses:
            check_listing_move(status, to_status)
        moved = self.where(lambda x: x.machine_id == machine_id and x.status in from_statuses)
        for x in moved:
            x.status = to_status
        return len(moved)

    async def set_ready_for_machine(self, machine_id: int, ready: bool) -> None:
        for x in self.where(lambda x: x.machine_id == machine_id):
            x.ready = ready

    async def set_reliability_for_machine(self, machine_id: int, bps: int) -> None:
        for x in self.where(lambda x: x.machine_id == machine_id):
            x.reliability_bps = max(100, bps)
