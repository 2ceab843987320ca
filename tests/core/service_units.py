"""What the service unit tests share: the unit of work they run on (the in-memory one, and
SQLite through the SQLAlchemy one, so the fake is held to what the database does) and rows
of a small market seeded straight through the repositories (no agent, no chain)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.db.engine import create_database
from core.db.mapping import start_mappers
from core.db.tables import metadata
from core.db.uow import SqlAlchemyUowFactory
from core.domain.model import Listing, Machine, MachineGpu, MachineTemplate, Provider, User
from core.services.machine_specs import machine_ready
from rigshare_dev.fakes.wallet import dev_address
from tests.fakes.clock import FakeClock
from tests.fakes.memory_uow import MemoryUowFactory

BACKENDS = ["memory", "sqlite"]
CUDA_IMAGE = "docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
TORCH_IMAGE = "docker.io/pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime"
TEMPLATES = (("base", CUDA_IMAGE, False), ("pytorch", TORCH_IMAGE, True))


@asynccontextmanager
async def unit_of_work(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A unit-of-work factory on an empty database of ``backend`` (memory or sqlite)."""
    if backend == "memory":
        yield MemoryUowFactory()
        return
    start_mappers()
    db = create_database(f"sqlite:///{tmp_path}/units.sqlite3")
    async with db.write.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield SqlAlchemyUowFactory(db)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Host:
    """A seeded provider with one machine and one listing of its GPUs."""

    user_id: int
    provider_id: int
    machine_id: int
    listing_id: int
    gpu_uuids: tuple[str, ...]


async def user(uow: Any, clock: FakeClock, name: str, *, wallet: bool = False) -> int:
    """A chat user (``terminal`` platform); with ``wallet`` its development wallet is linked."""
    async with uow() as tx:
        found = await tx.users.create_or_get(User("terminal", name, name, clock.now()))
        if wallet:
            found.wallet_address = dev_address(found.id)
        await tx.commit()
        return int(found.id)


async def host(
    uow: Any,
    clock: FakeClock,
    name: str,
    *,
    price: int = 500_000,
    model: str = "rtx4090",
    gpus: int = 1,
    region: str = "eu",
    reliability_bps: int = 8_000,
    instances: bool = True,
    templates: Sequence[tuple[str, str, bool]] = TEMPLATES,
    registries: Sequence[str] = (),
    specs: bool = True,
) -> Host:
    """A provider whose one machine reported ``gpus`` GPUs of ``model``, listed together at
    ``price`` per GPU-hour. ``instances``: the machine runs containers (default template: the
    first of ``templates``); ``specs``: it reported CPU, memory and disk (a share per GPU).
    Without either it is never rented out, as an agent's heartbeat would leave it."""
    user_id = await user(uow, clock, name)
    now = clock.now()
    async with uow() as tx:
        provider = Provider(user_id, dev_address(user_id), now)
        tx.providers.add(provider)
        await tx.flush()
        machine = Machine(provider.id, f"{name}-box", region, f"hash-{name}", now)
        machine.status, machine.first_seen_at, machine.last_heartbeat_at = "online", now, now
        machine.gpu_total = gpus
        if specs:
            machine.cpu_cores, machine.ram_mib, machine.disk_free_gib = 16 * gpus, 65536 * gpus, 500
            machine.share_cpu_millis, machine.share_ram_mib = 16_000, 65536
            machine.share_disk_gib, machine.cuda_number = 500 // gpus, 12040
        if instances:
            machine.backend, machine.max_ports = "simulated", 4
            machine.default_template = templates[0][0] if templates else None
            machine.custom_images = bool(registries)
            machine.registries = f" {' '.join(sorted(registries))} " if registries else ""
        tx.machines.add(machine)
        await tx.flush()
        listing = Listing(
            machine.id, provider.id, model, gpus, 24, price, region, now,
            reliability_bps=reliability_bps, free_gpus=gpus,
            ready=machine_ready(machine),
        )  # fmt: skip
        tx.listings.add(listing)
        await tx.flush()
        uuids = tuple(f"GPU-{machine.id}-{i}" for i in range(gpus))
        for i, uuid in enumerate(uuids):
            tx.gpus.add(MachineGpu(machine.id, uuid, i, model, 24_564, model, listing.id))
        if instances:
            await tx.templates.replace(
                machine.id,
                [
                    MachineTemplate(machine.id, n, image, n.title(), jup)
                    for n, image, jup in templates
                ],
            )
        await tx.commit()
        return Host(user_id, provider.id, machine.id, listing.id, uuids)


async def holders(uow: Any, machine_id: int) -> list[int | None]:
    """The rental holding each GPU of the machine (None: free), lowest index first."""
    async with uow(readonly=True) as tx:
        return [g.rental_id for g in await tx.gpus.for_machine(machine_id)]


async def free_gpus(uow: Any, listing_id: int) -> tuple[int, int]:
    """(``Listing.free_gpus``, free GPU rows): the two counts the holds keep in step."""
    async with uow(readonly=True) as tx:
        listing = await tx.listings.get(listing_id)
        return listing.free_gpus, await tx.gpus.free_count(listing_id)
