"""The agents' command queue (grants and revokes) and the dispute evidence they send."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.db import tables
from core.db.repo_base import Repo as _Repo
from core.db.repo_base import rowcount
from core.domain.model import AgentCommandRecord, EvidenceRecord


class AgentCommands(_Repo):
    async def append(self, cmd: AgentCommandRecord, attempts: int = 5) -> AgentCommandRecord:
        """Insert with the machine's next seq; a concurrent writer that took it makes us retry.

        Raises IntegrityError if the seq stays contended after ``attempts`` tries.
        """
        t = tables.agent_commands.c
        for attempt in range(attempts):
            q = select(func.coalesce(func.max(t.seq), 0)).where(t.machine_id == cmd.machine_id)
            cmd.seq = int((await self.s.execute(q)).scalar_one()) + 1
            try:
                async with self.s.begin_nested():
                    self.s.add(cmd)
                    await self.s.flush()
                return cmd
            except IntegrityError:
                if cmd in self.s:
                    self.s.expunge(cmd)
                if attempt == attempts - 1:
                    raise
        return cmd

    async def get(self, command_id: int) -> AgentCommandRecord | None:
        return await self.s.get(AgentCommandRecord, command_id)

    async def pending(
        self, machine_id: int, after_seq: int, now: int, limit: int
    ) -> Sequence[AgentCommandRecord]:
        """Commands without a result, newer than ``after_seq`` and not stale, in seq order."""
        t = tables.agent_commands.c
        q = (
            select(AgentCommandRecord)
            .where(
                t.machine_id == machine_id,
                t.seq > after_seq,
                t.done_at.is_(None),
                t.expires_at >= now,
            )
            .order_by(t.seq)
            .limit(limit)
        )
        return (await self.s.execute(q)).scalars().all()

    async def machines_with_open(self, now: int) -> set[int]:
        """Machines that have commands without a result that are not stale yet."""
        t = tables.agent_commands.c
        q = select(t.machine_id).where(t.done_at.is_(None), t.expires_at >= now).distinct()
        return set((await self.s.execute(q)).scalars().all())

    async def has_open(self, machine_id: int, now: int) -> bool:
        t = tables.agent_commands.c
        q = (
            select(t.id)
            .where(t.machine_id == machine_id, t.done_at.is_(None), t.expires_at >= now)
            .limit(1)
        )
        return (await self.s.execute(q)).first() is not None

    async def mark_delivered(self, ids: Sequence[int], now: int) -> None:
        t = tables.agent_commands.c
        stmt = (
            update(tables.agent_commands)
            .where(t.id.in_(list(ids)), t.delivered_at.is_(None))
            .values(delivered_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def complete(self, command_id: int, result: dict[str, Any], now: int) -> bool:
        """Store the result unless one is stored already; True for the first result only."""
        t = tables.agent_commands.c
        stmt = (
            update(tables.agent_commands)
            .where(t.id == command_id, t.done_at.is_(None))
            .values(result_json=result, done_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.s.execute(stmt)) == 1

    async def for_rental(self, rental_id: int) -> Sequence[AgentCommandRecord]:
        t = tables.agent_commands.c
        q = select(AgentCommandRecord).where(t.rental_id == rental_id).order_by(t.seq)
        return (await self.s.execute(q)).scalars().all()

    async def unrevoked_grants(
        self, states: Sequence[str], ended_since: int
    ) -> list[tuple[int, int]]:
        """(rental id, machine id) of rentals in ``states`` that ended (or were closed) at
        or after ``ended_since`` and had access granted, but were never sent a revoke."""
        t, r = tables.agent_commands.c, tables.rentals.c
        revoke = tables.agent_commands.alias("revoke")
        q = (
            select(t.rental_id, t.machine_id)
            .join(tables.rentals, r.id == t.rental_id)
            .where(
                t.kind == "grant",
                r.state.in_(list(states)),
                func.coalesce(r.ended_at, r.settled_at) >= ended_since,
                ~select(revoke.c.id)
                .where(revoke.c.rental_id == t.rental_id, revoke.c.kind == "revoke")
                .exists(),
            )
            .distinct()
        )
        return [tuple(row) for row in (await self.s.execute(q)).all()]

    async def max_id(self) -> int:
        q = select(func.coalesce(func.max(tables.agent_commands.c.id), 0))
        return int((await self.s.execute(q)).scalar_one())

    async def created_after(self, last_id: int, limit: int = 1000) -> Sequence[tuple[int, int]]:
        """(id, machine_id) of commands inserted after ``last_id``, oldest first."""
        t = tables.agent_commands.c
        q = select(t.id, t.machine_id).where(t.id > last_id).order_by(t.id).limit(limit)
        return [tuple(row) for row in (await self.s.execute(q)).all()]


class Evidence(_Repo):
    async def for_rental(self, rental_id: int) -> Sequence[EvidenceRecord]:
        t = tables.agent_evidence.c
        q = select(EvidenceRecord).where(t.rental_id == rental_id).order_by(t.at, t.id)
        return (await self.s.execute(q)).scalars().all()
