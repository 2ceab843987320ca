"""Repository of claimed chat updates (``processed_updates``): insert-or-ignore claims, lease
take-over by a conditional UPDATE, so two processes never both win the same update."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import TextClause, bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import tables
from core.db.repo_base import rowcount, upsert

NEW, TAKEN, DONE, BUSY = "new", "taken", "done", "busy"

# Every update runs these: built once, so SQLAlchemy neither rebuilds them nor works out
# their cache key on each call (the key of a statement object is kept with it).
_t = tables.processed_updates
_c = _t.c
_CLAIM = upsert(_t, ("source", "update_id"))
_TAKE_OVER = (
    update(_t)
    .where(
        _c.source == bindparam("s"),
        _c.update_id == bindparam("u"),
        _c.done_at.is_(None),
        _c.claimed_until <= bindparam("now"),
    )
    .values(claimed_until=bindparam("until"))
    .execution_options(synchronize_session=False)
)
_STATE = select(_c.done_at, _c.claimed_until).where(
    _c.source == bindparam("s"), _c.update_id == bindparam("u")
)


# A group's claims and done marks are one INSERT of many rows; rows beyond this go in further
# statements (SQLite allows 32,766 parameters; PostgreSQL 65,535).
CLAIM_ROWS = 64


@functools.lru_cache(maxsize=256)
def _claim_rows(claims: int, done: int) -> TextClause:
    """INSERT of ``claims`` new claims and ``done`` done marks, returning the ids it wrote.

    A claim row (done_at NULL) whose id was claimed before changes nothing and is not
    returned; a done mark (done_at set) sets done_at on the claimed row. So one statement,
    atomic by itself, does what a done UPDATE and a claim INSERT did: SQLite 3.35+ and
    PostgreSQL both return the rows inserted or updated, and none that the WHERE kept as
    they were."""
    rows = [f"(:s, :u{i}, :until, NULL, :now)" for i in range(claims)]
    rows += [f"(:s, :d{i}, :now, :now, :now)" for i in range(done)]
    return text(
        f'INSERT INTO "{_t.name}" ("source", "update_id", "claimed_until", "done_at", '
        f'"created_at") VALUES {", ".join(rows)} ON CONFLICT ("source", "update_id") '
        'DO UPDATE SET "done_at" = excluded."done_at" WHERE excluded."done_at" IS NOT NULL '
        'RETURNING "update_id"'
    )


class ProcessedUpdates:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def claim(self, source: str, update_id: int, now: int, until: int) -> tuple[str, int]:
        """(NEW, until) for a first claim, (TAKEN, until) for one whose claimer's lease ran
        out without finishing, (DONE, 0) for a handled update, (BUSY, their lease end) while
        another claimer holds it."""
        new = {
            "source": source,
            "update_id": update_id,
            "claimed_until": until,
            "done_at": None,
            "created_at": now,
        }
        if rowcount(await self.s.execute(_CLAIM, new)) == 1:
            return NEW, until
        key = {"s": source, "u": update_id}
        if rowcount(await self.s.execute(_TAKE_OVER, {**key, "now": now, "until": until})) == 1:
            return TAKEN, until
        row = (await self.s.execute(_STATE, key)).one()
        return (DONE, 0) if row.done_at is not None else (BUSY, int(row.claimed_until))

    async def claim_new(
        self,
        source: str,
        update_ids: Sequence[int],
        now: int,
        until: int,
        done: Sequence[int] = (),
    ) -> set[int]:
        """Mark ``done`` ids handled and claim every id of ``update_ids`` not claimed before,
        in one statement per ``CLAIM_ROWS`` rows: the ids claimed now (the others need
        ``claim``: taken over, done or busy). Ids are distinct within each list; an id in
        both is only marked done (a statement may write a row once), so its claim is not
        among those returned."""
        finished = set(done)
        claims = [u for u in update_ids if u not in finished]
        claimed: set[int] = set()
        for start in range(0, max(len(claims), len(done)), CLAIM_ROWS):
            some, marks = claims[start : start + CLAIM_ROWS], done[start : start + CLAIM_ROWS]
            params: dict[str, object] = {"s": source, "until": until, "now": now}
            params.update({f"u{i}": u for i, u in enumerate(some)})
            params.update({f"d{i}": d for i, d in enumerate(marks)})
            result = await self.s.execute(_claim_rows(len(some), len(marks)), params)
            claimed.update(int(u) for u in result.scalars())
        return claimed - finished

    async def prune(self, before: int) -> int:
        """Forget handled updates created before ``before`` (Telegram never resends those)."""
        c = tables.processed_updates.c
        stmt = delete(tables.processed_updates).where(c.created_at < before, c.done_at.is_not(None))
        return rowcount(await self.s.execute(stmt))
