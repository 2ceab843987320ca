"""Each machine's GPUs, held per rental, and the templates each machine offers.

A GPU row has one ``rental_id``: the rental that holds it, so a GPU is never in two rentals.
Holding N GPUs takes N from the listing's ``free_gpus`` by one conditional UPDATE (concurrent
holders of a listing are serialised on its row, as a listing held as a whole was), then gives N
free GPU rows to the rental by one more, conditional on each being free; a savepoint undoes
both unless both took all N, so a rental never holds fewer GPUs than it pays for. Locks are
taken listing first, then GPUs, by holders and by the heartbeat's re-sync alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select, update

from core.db import tables
from core.db.repo_base import Repo, by_key, rowcount
from core.domain.listings import ListingStatus
from core.domain.model import MachineGpu, MachineTemplate

log = logging.getLogger(__name__)

G, L, T = tables.machine_gpus.c, tables.listings.c, tables.machine_templates.c


def free_count_of(listing_id_column: ColumnElement[Any] | int) -> ScalarSelect[int]:
    """How many GPUs of the listing are present and held by nobody (correlated)."""
    return (
        select(func.count())
        .select_from(tables.machine_gpus)
        .where(G.listing_id == listing_id_column, G.rental_id.is_(None), G.present.is_(True))
        .scalar_subquery()
    )


class _NotAll(Exception):
    """Fewer free GPUs than asked for: roll the savepoint back."""


class MachineGpus(Repo):
    async def for_machine(self, machine_id: int) -> Sequence[MachineGpu]:
        q = select(MachineGpu).where(G.machine_id == machine_id).order_by(G.idx, G.id)
        return (await self.s.execute(q)).scalars().all()

    async def hold(
        self, listing_id: int, rental_id: int, count: int, until: int | None
    ) -> list[str] | None:
        """Hold ``count`` free GPUs of an offered listing for ``rental_id`` until ``until``
        (None: until released), lowest indexes first; their UUIDs, or None (nothing held)
        when fewer than ``count`` are free.

        First one conditional UPDATE takes ``count`` from the listing's free GPUs if it has
        that many (the database serialises holders of a listing on its row: of concurrent
        holders, only as many as there are GPUs get through); then one UPDATE, conditional
        on each GPU being free, gives exactly that many GPU rows to the rental. Both run in
        a savepoint that is rolled back unless both took all ``count``.
        """
        gate = (
            update(tables.listings)
            .where(
                L.id == listing_id,
                L.status == ListingStatus.AVAILABLE,
                L.free_gpus >= count,
            )
            .values(free_gpus=L.free_gpus - count)
            .execution_options(synchronize_session=False)
        )
        free = (G.listing_id == listing_id, G.present.is_(True), G.rental_id.is_(None))
        pick = select(G.id).where(*free).order_by(G.idx, G.id).limit(count).with_for_update()
        try:
            async with self.s.begin_nested():
                if rowcount(await self.s.execute(gate)) != 1:
                    raise _NotAll
                ids = list((await self.s.execute(pick)).scalars().all())
                stmt = (
                    update(tables.machine_gpus)
                    .where(G.id.in_(ids), *free)
                    .values(rental_id=rental_id, hold_until=until)
                    .returning(G.uuid, G.idx)
                    .execution_options(synchronize_session=False)
                )
                rows = (await self.s.execute(stmt)).all() if len(ids) == count else []
                if len(rows) != count:
                    log.error("listing %s counted free GPUs it does not have", listing_id)
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
        return rowcount(await self.s.execute(stmt))

    async def release(self, rental_id: int, listing_id: int) -> int:
        """Free every GPU the rental holds (all of its listing ``listing_id``); returns how
        many."""
        stmt = (
            update(tables.machine_gpus)
            .where(G.rental_id == rental_id)
            .values(rental_id=None, hold_until=None)
            .returning(G.present)
            .execution_options(synchronize_session=False)
        )
        present = (await self.s.execute(stmt)).scalars().all()
        await self._count_free(listing_id, sum(1 for p in present if p))
        return len(present)

    async def _count_free(self, listing_id: int, delta: int) -> None:
        """Keep ``listings.free_gpus`` in step, in the same transaction: relative, so that
        concurrent holders and releasers of one listing add up (PostgreSQL re-reads the row
        it waited for)."""
        if delta:
            stmt = (
                update(tables.listings)
                .where(L.id == listing_id)
                .values(free_gpus=L.free_gpus + delta)
                .execution_options(synchronize_session=False)
            )
            await self.s.execute(stmt)

    async def lock_listings(self, machine_id: int) -> None:
        """Lock the machine's listing rows before its GPU rows are changed (the order every
        hold takes too: no deadlock), so a recount runs after holds in flight committed."""
        await self.s.execute(select(L.id).where(L.machine_id == machine_id).with_for_update())

    async def recount(self, machine_id: int) -> None:
        """Set ``free_gpus`` of the machine's listings from their GPU rows (after the agent
        reported other GPUs; call :meth:`lock_listings` first)."""
        stmt = (
            update(tables.listings)
            .where(L.machine_id == machine_id)
            .values(free_gpus=free_count_of(L.id))
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def free_count(self, listing_id: int) -> int:
        return int((await self.s.execute(select(free_count_of(listing_id)))).scalar_one())


class MachineTemplates(Repo):
    async def for_machine(self, machine_id: int) -> Sequence[MachineTemplate]:
        q = select(MachineTemplate).where(T.machine_id == machine_id).order_by(T.name)
        return (await self.s.execute(q)).scalars().all()

    async def get(self, machine_id: int, name: str) -> MachineTemplate | None:
        return await by_key(self.s, MachineTemplate, machine_id, name)

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
