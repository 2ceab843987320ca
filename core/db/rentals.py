"""The rentals table: a renter's and a machine's rentals, and the conditional cancel of a
quote."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Select, bindparam, func, insert, select, update

from core.db import tables
from core.db.mapping import row_values
from core.db.repo_base import Repo, by_key, one_of, rowcount
from core.domain.model import Rental
from core.domain.rentals import RentalState

_rentals = tables.rentals.c
_INSERT = insert(tables.rentals).returning(_rentals.id)  # its columns: those of the values
# a quote, cancelled by its renter (the lifecycle's QUOTED -> CANCELLED), if it still is one
_CANCEL_QUOTED = (
    update(tables.rentals)
    .where(
        _rentals.id == bindparam("b_id"),
        _rentals.renter_id == bindparam("b_renter"),
        _rentals.state == RentalState.QUOTED.value,
    )
    .values(state=RentalState.CANCELLED.value, cancel_reason=bindparam("b_reason"))
)


@functools.lru_cache(maxsize=64)  # the state sets are the services' own constants
def _renter_rentals(states: tuple[str, ...]) -> Select[tuple[Rental]]:
    q = select(Rental).where(_rentals.renter_id == bindparam("renter"))
    if states:
        q = q.where(one_of(_rentals.state, states))
    return q.order_by(_rentals.id.desc()).limit(bindparam("limit"))


class Rentals(Repo):
    async def insert(self, rental: Rental) -> None:
        """Store a new rental with one INSERT and give it its id. ``add`` and a flush do the
        same through the ORM's unit of work at several times the CPU for one row, and a quote
        is the largest write a chat update makes. The rental stays out of the session: a
        change to it afterwards is not saved (the quote's caller only reads it)."""
        values = row_values(rental, tables.rentals)
        rental.id = (await self.s.execute(_INSERT, values)).scalar_one()

    async def cancel_quoted(self, rental_id: int, renter_id: int, reason: str) -> bool:
        """Cancel the renter's quote in one conditional UPDATE: False (nothing changed) when
        the rental is not this renter's or is no quote (any more). The condition is the lock:
        a confirm that got there first leaves nothing to cancel."""
        params = {"b_id": rental_id, "b_renter": renter_id, "b_reason": reason}
        return rowcount(await self.s.execute(_CANCEL_QUOTED, params)) == 1

    async def get(self, rental_id: int, *, for_update: bool = False) -> Rental | None:
        if for_update:
            q = select(Rental).where(tables.rentals.c.id == rental_id).with_for_update()
            return (await self.s.execute(q)).scalar_one_or_none()
        return await by_key(self.s, Rental, rental_id)

    async def by_escrow_id(self, escrow_id: str) -> Rental | None:
        q = select(Rental).where(tables.rentals.c.escrow_id == escrow_id)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def by_request(self, renter_id: int, request_key: str) -> Rental | None:
        c = tables.rentals.c
        q = select(Rental).where(c.renter_id == renter_id, c.request_key == request_key)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def for_renter(
        self, renter_id: int, states: Sequence[str] | None = None, limit: int = 50
    ) -> Sequence[Rental]:
        q = _renter_rentals(tuple(states or ()))  # /status: kept, built once per state set
        rows = await self.s.execute(q, {"renter": renter_id, "limit": limit})
        return rows.scalars().all()

    async def for_provider(
        self, provider_id: int, states: Sequence[str] | None = None
    ) -> Sequence[Rental]:
        t = tables.rentals.c
        q = select(Rental).where(t.provider_id == provider_id)
        if states:
            q = q.where(t.state.in_(list(states)))
        return (await self.s.execute(q.order_by(t.id.desc()))).scalars().all()

    async def in_states(self, states: Sequence[str], limit: int = 500) -> Sequence[Rental]:
        t = tables.rentals.c
        q = select(Rental).where(t.state.in_(list(states))).order_by(t.id).limit(limit)
        return (await self.s.execute(q)).scalars().all()

    async def stats_for_machine(self, machine_id: int) -> tuple[int, int, int, int]:
        """(completed rentals, disputes lost, rating sum, rating count) for reliability."""
        t = tables.rentals.c
        q = select(
            func.count().filter(t.state == RentalState.SETTLED),
            func.count().filter(t.dispute_outcome == "renter"),
            func.coalesce(func.sum(t.rating), 0),
            func.count(t.rating),
        ).where(t.machine_id == machine_id)
        row = (await self.s.execute(q)).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    async def response_samples(
        self, machine_id: int, limit: int = 50
    ) -> Sequence[tuple[int, int | None, int | None, str]]:
        """(funded_at, access_granted_at, started_at, state) of the machine's latest funded
        rentals, newest first."""
        t = tables.rentals.c
        q = (
            select(t.funded_at, t.access_granted_at, t.started_at, t.state)
            .where(t.machine_id == machine_id, t.funded_at.is_not(None))
            .order_by(t.id.desc())
            .limit(limit)
        )
        return [tuple(row) for row in (await self.s.execute(q)).all()]

    async def without_gpus(self, machine_id: int, states: Sequence[str]) -> Sequence[Rental]:
        """Rentals of the machine in ``states`` that hold no GPU (from before GPU holds)."""
        t = tables.rentals.c
        q = select(Rental).where(
            t.machine_id == machine_id, t.state.in_(list(states)), t.gpu_uuids_json == []
        )
        return (await self.s.execute(q.order_by(t.id))).scalars().all()

    async def on_machine(self, machine_id: int, states: Sequence[str]) -> Sequence[int]:
        t = tables.rentals.c
        q = select(t.id).where(t.machine_id == machine_id, t.state.in_(list(states)))
        return list((await self.s.execute(q.order_by(t.id))).scalars().all())
