"""A machine's inventory, re-synced when its agent reports other GPUs or another offer: one
listing per GPU model, one row per GPU (held per rental), the listings' free GPUs and slowest
PCIe link, the templates it offers; live rentals from before GPU holds get their GPUs."""

from __future__ import annotations

import logging
from collections import Counter

from core.domain.gpus import get_model, model_from_nvml
from core.domain.instances import parse_image
from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import Listing, Machine, MachineGpu, MachineTemplate, stored_id
from core.domain.rentals import LIVE, RentalState
from core.services.base import UnitOfWork, present
from core.services.machine_specs import machine_ready
from core.wire import GpuInfo, Heartbeat

log = logging.getLogger(__name__)


async def sync_inventory(uow: UnitOfWork, machine: Machine, hb: Heartbeat, now: int) -> None:
    """Bring the machine's listings, GPUs and templates in line with ``hb`` (call after the
    machine row took the beat's specs and offer). Listing rows are locked first: the order
    every hold takes (listing, then GPUs)."""
    machine_id = stored_id(machine)
    await uow.gpus.lock_listings(machine_id)
    await _sync_listings(uow, machine, hb, now)
    await _sync_gpus(uow, machine, hb)
    await uow.templates.replace(machine_id, _templates(machine_id, hb))


async def _sync_listings(uow: UnitOfWork, machine: Machine, hb: Heartbeat, now: int) -> None:
    """One listing per GPU model on the machine; a listing whose GPUs vanished or changed
    model is suspended (the agent reported a different GPU than the listing), one whose
    model gained GPUs offers them too."""
    counts: Counter[str] = Counter()
    for g in hb.gpus:
        model = model_from_nvml(g.name, g.vram_total_mib)
        if model is not None and not g.lost:
            counts[model.key] += 1
    machine_id = stored_id(machine)
    existing = {x.gpu_model: x for x in await uow.listings.for_machine(machine_id)}
    for key, listing in existing.items():
        n = counts.get(key, 0)
        if n < listing.gpu_count:
            if listing.status != ListingStatus.SUSPENDED:
                listing.move_to(ListingStatus.SUSPENDED)
        else:
            listing.gpu_count = n
            if listing.status == ListingStatus.SUSPENDED:
                listing.move_to(_restored(machine, listing))
    for key, n in counts.items():
        if key in existing:
            continue
        known = present(get_model(key), f"GPU model {key}")  # model_from_nvml knew it
        uow.listings.add(
            Listing(
                machine_id=machine_id,
                provider_id=machine.provider_id,
                gpu_model=key,
                gpu_count=n,
                vram_gb=known.vram_gb,
                price_per_hour=0,
                region=machine.region,
                created_at=now,
                status=ListingStatus.PAUSED,  # offered once the provider sets a price
                verified=False,  # a claim of the agent: only the service's probe verifies
                ready=machine_ready(machine),
            )
        )
    await uow.flush()


async def _sync_gpus(uow: UnitOfWork, machine: Machine, hb: Heartbeat) -> None:
    """One row per GPU the agent reports, tied to its model's listing; GPUs no longer
    reported (or lost) stay with their rental but are not offered."""
    machine_id = stored_id(machine)
    listing_of = {x.gpu_model: stored_id(x) for x in await uow.listings.for_machine(machine_id)}
    rows = {r.uuid: r for r in await uow.gpus.for_machine(machine_id)}
    for g in hb.gpus:
        key = _model_key(g)
        row = rows.pop(g.uuid, None)
        if row is None:
            row = MachineGpu(machine_id=machine_id, uuid=g.uuid, idx=g.index, name=g.name)
            uow.gpus.add(row)
        row.idx, row.name, row.vram_mib = g.index, g.name, g.vram_total_mib
        row.gpu_model = key
        row.listing_id = listing_of.get(key) if key else None
        row.pcie_gen, row.pcie_width, row.present = g.pcie_gen, g.pcie_width, not g.lost
    for row in rows.values():
        row.present = False
    by_listing: dict[int, list[GpuInfo]] = {}
    for g in hb.gpus:
        key = _model_key(g)
        listing_id = listing_of.get(key) if key else None
        if listing_id is not None and not g.lost:
            by_listing.setdefault(listing_id, []).append(g)
    for listing in await uow.listings.for_machine(machine_id):  # its slowest link
        gpus = by_listing.get(stored_id(listing), [])
        listing.pcie_gen = min((g.pcie_gen for g in gpus if g.pcie_gen), default=None)
        listing.pcie_width = min((g.pcie_width for g in gpus if g.pcie_width), default=None)
    await uow.flush()
    await uow.gpus.recount(machine_id)
    await _adopt(uow, machine)


async def _adopt(uow: UnitOfWork, machine: Machine) -> None:
    """Live rentals from before GPUs were held one by one (their listing was held as a
    whole) get the GPUs they pay for, so nobody else is given them."""
    for rental in await uow.rentals.without_gpus(stored_id(machine), list(LIVE)):
        paid = rental.state != RentalState.AWAITING_PAYMENT
        until = None if paid else rental.hold_until
        uuids = await uow.gpus.hold(rental.listing_id, stored_id(rental), rental.gpu_count, until)
        if uuids is None:
            log.warning("rental %s: its %s GPUs are not free to adopt", rental.id, machine.id)
            continue
        rental.gpu_uuids = uuids


def _model_key(g: GpuInfo) -> str | None:
    model = model_from_nvml(g.name, g.vram_total_mib)
    return model.key if model else None


def _templates(machine_id: int, hb: Heartbeat) -> list[MachineTemplate]:
    if hb.offer is None:
        return []
    return [
        MachineTemplate(machine_id, t.name, parse_image(t.image).reference, t.title, t.jupyter)
        for t in hb.offer.templates
    ]


def _restored(machine: Machine, listing: Listing) -> str:
    """Where a suspended listing goes once its GPUs are back: where its machine is."""
    if listing.price_per_hour == 0 or machine.status == MachineStatus.PAUSED:
        return ListingStatus.PAUSED
    if machine.status == MachineStatus.FAILING:
        return ListingStatus.FAILING
    if machine.status == MachineStatus.OFFLINE:
        return ListingStatus.OFFLINE
    return ListingStatus.AVAILABLE
