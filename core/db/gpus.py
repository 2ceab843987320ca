"""Each machine's GPUs, held per rental, and the templates each machine offers.

A GPU row has one ``rental_id``: the rental that holds it. Holding N GPUs is one conditional
UPDATE of N free rows of the listing inside a savepoint that is rolled back unless all N were
taken, so a GPU is never in two rentals and a rental never holds fewer GPUs than it pays for.
On PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED``: concurrent holders take
different GPUs instead of queueing for the same one; SQLite has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, or_, select, update

from core.db import tables
from core.db.repo_base import Repo
from core.domain.listings import ListingStatus
from core.domain.model import MachineGpu, MachineTemplate

G, L, T = tables.machine_gpus.c, tables.listings.c, tables.machine_templates.c


class _NotAll(Exception):
    """Fewer free GPUs than asked for: roll the savepoint back."""


class MachineGpus(Repo):
    async def for_machine(self, machine_id: int) -> Sequence[MachineGpu]:
        q = select(MachineGpu).where(G.machine_id == machine_id).order_by(G.idx, G.id)
        return (await self.s.execute(q)).scalars().all()

    async def of_rental(self, rental_id: int) -> Sequence[MachineGpu]:
        q = select(MachineGpu).where(G.rental_id == rental_id).order_by(G.idx, G.id)
        return (await self.s.execute(q)).scalars().all()

    async def hold(
        self, listing_id: int, rental_id: int, count: int, now: int, until: int | None
    ) -> list[str] | None:
        """Hold ``count`` free GPUs of an offered listing for ``rental_id`` until ``until``
        (None: until released), lowest indexes first; their UUIDs, or None (nothing held)
        when fewer than ``count`` are free. A hold that expired before ``now`` is free.

        The rows are picked and locked first (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
        concurrent holders pick different GPUs; SQLite: the writer holds the database), then
        taken by one UPDATE that is conditional on each still being free and the listing
        offered, inside a savepoint that is rolled back (locks and all) unless all were.
        A single ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)`` is
        not used: PostgreSQL may run the subquery once per row, and the rows the statement
        updated itself are skipped by the next run, so it took more than ``n``.
        """
        free = (
            G.listing_id == listing_id,
            G.present.is_(True),
            or_(G.rental_id.is_(None), G.hold_until < now),
        )
        pick = (
            select(G.id)
            .where(*free)
            .order_by(G.idx, G.id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
        offered = exists().where(L.id == listing_id, L.status == ListingStatus.AVAILABLE)
        try:
            async with self.s.begin_nested():
                ids = list((await self.s.execute(pick)).scalars().all())
                if len(ids) != count:
                    raise _NotAll
                stmt = (
                    update(tables.machine_gpus)
                    .where(G.id.in_(ids), *free, offered)
                    .values(rental_id=rental_id, hold_until=until)
                    .returning(G.uuid, G.idx)
                    .execution_options(synchronize_session=False)
                )
                rows = (await self.s.execute(stmt)).all()
                if len(rows) != count:
                    raise _NotAll
        except _NotAll:
            return None
        return [uuid for uuid, _ in sorted(rows, key=lambda row: row[1])]

    async def keep(self, rental_id: int) -> int:
        """The rental is paid: its GPUs stay held until released; returns how many it holds."""
        stmt = (
            update(tables.machine_gpus)
            .where(G.rental_id == rental_id)
            .values(hold_until=None)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount

    async def release(self, rental_id: int) -> int:
        """Free every GPU the rental holds; returns how many."""
        stmt = (
            update(tables.machine_gpus)
            .where(G.rental_id == rental_id)
            .values(rental_id=None, hold_until=None)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount

    async def free_count(self, listing_id: int) -> int:
        q = select(func.count()).where(
            G.listing_id == listing_id, G.rental_id.is_(None), G.present.is_(True)
        )
        return int((await self.s.execute(q)).scalar_one())

    async def stats(self, listing_ids: Sequence[int]) -> dict[int, tuple[int | None, int | None]]:
        """The slowest PCIe link (generation, width) of each listing's present GPUs."""
        if not listing_ids:
            return {}
        q = (
            select(G.listing_id, func.min(G.pcie_gen), func.min(G.pcie_width))
            .where(G.listing_id.in_(list(listing_ids)), G.present.is_(True))
            .group_by(G.listing_id)
        )
        return {lid: (gen, width) for lid, gen, width in (await self.s.execute(q)).all()}


class MachineTemplates(Repo):
    async def for_machine(self, machine_id: int) -> Sequence[MachineTemplate]:
        q = select(MachineTemplate).where(T.machine_id == machine_id).order_by(T.name)
        return (await self.s.execute(q)).scalars().all()

    async def get(self, machine_id: int, name: str) -> MachineTemplate | None:
        return await self.s.get(MachineTemplate, (machine_id, name))

    async def by_image(self, machine_id: int, image: str) -> MachineTemplate | None:
        q = select(MachineTemplate).where(T.machine_id == machine_id, T.image == image)
        return (await self.s.execute(q.order_by(T.name).limit(1))).scalar_one_or_none()

    async def any_offered(self, name: str) -> bool:
        """Whether an offered listing's machine has a template called ``name``."""
        q = (
            select(T.name)
            .join(tables.listings, L.machine_id == T.machine_id)
            .where(T.name == name, L.status == ListingStatus.AVAILABLE)
            .limit(1)
        )
        return (await self.s.execute(q)).first() is not None

    async def replace(self, machine_id: int, templates: Sequence[MachineTemplate]) -> None:
        """The machine offers exactly ``templates`` from now on."""
        for old in await self.for_machine(machine_id):
            await self.s.delete(old)
        await self.s.flush()
        for template in templates:
            self.s.add(template)

    async def offered(
        self, model: str | None, listing_id: int | None, limit: int = 500
    ) -> list[tuple[str, str, bool, int]]:
        """(name, title, jupyter, listing id) of the templates of offered listings, by name."""
        q = (
            select(T.name, T.title, T.jupyter, L.id)
            .join(tables.listings, L.machine_id == T.machine_id)
            .where(L.status == ListingStatus.AVAILABLE, L.price_per_hour > 0)
        )
        if model is not None:
            q = q.where(L.gpu_model == model)
        if listing_id is not None:
            q = q.where(L.id == listing_id)
        q = q.order_by(T.name, L.id).limit(limit)
        return [tuple(row) for row in (await self.s.execute(q)).all()]
