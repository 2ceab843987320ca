"""Repository of claimed chat updates (``processed_updates``): insert-or-ignore claims, lease
take-over by a conditional UPDATE, so two processes never both win the same update."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import tables
from core.db.repo_base import rowcount

NEW, TAKEN, DONE, BUSY = "new", "taken", "done", "busy"


class ProcessedUpdates:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def claim(self, source: str, update_id: int, now: int, until: int) -> tuple[str, int]:
        """(NEW, until) for a first claim, (TAKEN, until) for one whose claimer's lease ran
        out without finishing, (DONE, 0) for a handled update, (BUSY, their lease end) while
        another claimer holds it."""
        t = tables.processed_updates
        c = t.c
        ins = pg_insert if self.s.bind.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            ins(t)
            .values(source=source, update_id=update_id, claimed_until=until, created_at=now)
            .on_conflict_do_nothing(index_elements=["source", "update_id"])
        )
        if rowcount(await self.s.execute(stmt)) == 1:
            return NEW, until
        take = (
            update(t)
            .where(
                c.source == source,
                c.update_id == update_id,
                c.done_at.is_(None),
                c.claimed_until <= now,
            )
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        if rowcount(await self.s.execute(take)) == 1:
            return TAKEN, until
        row = (
            await self.s.execute(
                select(c.done_at, c.claimed_until).where(
                    c.source == source, c.update_id == update_id
                )
            )
        ).one()
        return (DONE, 0) if row.done_at is not None else (BUSY, int(row.claimed_until))

    async def finish(self, source: str, update_id: int, now: int) -> None:
        c = tables.processed_updates.c
        await self.s.execute(
            update(tables.processed_updates)
            .where(c.source == source, c.update_id == update_id)
            .values(done_at=now)
            .execution_options(synchronize_session=False)
        )

    async def prune(self, before: int) -> int:
        """Forget handled updates created before ``before`` (Telegram never resends those)."""
        c = tables.processed_updates.c
        stmt = delete(tables.processed_updates).where(c.created_at < before, c.done_at.is_not(None))
        return rowcount(await self.s.execute(stmt))
