"""Repository of held payouts (``held_payouts``): what the escrow parked after a refused
transfer, until a claim for the same address pays it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, and_, or_, select
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from core.db import tables
from core.db.repo_base import Repo
from core.domain.model import HeldPayout

HELD, PAID = "held", "paid"


def _before(
    c: ReadOnlyColumnCollection[str, Column[Any]], block: int, log_index: int
) -> ColumnElement[bool]:
    """Rows whose chain position (block, log index) comes before the given one."""
    return or_(c.block_number < block, and_(c.block_number == block, c.log_index < log_index))


class HeldPayouts(Repo):
    async def held_before(self, address: str, block: int, log_index: int) -> list[HeldPayout]:
        """The payouts still held for ``address`` that were parked before that chain position
        (a claim there paid them all), oldest first."""
        c = tables.held_payouts.c
        q = (
            select(HeldPayout)
            .where(c.address == address, c.status == HELD, _before(c, block, log_index))
            .order_by(c.block_number, c.log_index)
        )
        return list((await self.s.execute(q)).scalars().all())

    async def held_for(self, address: str) -> list[HeldPayout]:
        c = tables.held_payouts.c
        q = select(HeldPayout).where(c.address == address, c.status == HELD).order_by(c.id)
        return list((await self.s.execute(q)).scalars().all())

    async def due(self, now: int, limit: int = 100) -> list[HeldPayout]:
        """Held payouts whose next claim attempt is due, oldest first."""
        c = tables.held_payouts.c
        q = (
            select(HeldPayout)
            .where(c.status == HELD, c.next_try_at <= now)
            .order_by(c.next_try_at, c.id)
            .limit(limit)
        )
        return list((await self.s.execute(q)).scalars().all())

    async def for_rentals(self, rental_ids: Sequence[int]) -> list[HeldPayout]:
        if not rental_ids:
            return []
        c = tables.held_payouts.c
        q = select(HeldPayout).where(c.rental_id.in_(list(rental_ids))).order_by(c.id)
        return list((await self.s.execute(q)).scalars().all())

    async def for_user(self, user_id: int, role: str) -> list[HeldPayout]:
        c = tables.held_payouts.c
        q = select(HeldPayout).where(c.user_id == user_id, c.role == role).order_by(c.id)
        return list((await self.s.execute(q)).scalars().all())

    async def claim_after(self, address: str, block: int, log_index: int) -> str | None:
        """The transaction of the first mirrored ``Claimed`` for ``address`` after that chain
        position (it paid whatever was parked there), or None. Claims are recorded as chain
        events whose subject (``escrow_id``) is the claiming address."""
        c = tables.chain_events.c
        later = or_(c.block_number > block, and_(c.block_number == block, c.log_index > log_index))
        q = (
            select(c.tx_hash)
            .where(c.name == "Claimed", c.escrow_id == address, later)
            .order_by(c.block_number, c.log_index)
            .limit(1)
        )
        return (await self.s.execute(q)).scalars().first()
