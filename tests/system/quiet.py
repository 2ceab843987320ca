"""Waiting until the system has nothing left to do: no rental between states, every message
to a chat user sent, every agent command answered."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import tables
from core.db.engine import Database
from core.domain.rentals import RentalState as S
from tests.waiting import eventually

BETWEEN = (S.AWAITING_PAYMENT, S.FUNDED, S.PROVISIONING, S.ACTIVE, S.ENDED)


async def outstanding(db: Database, platform: str = "telegram") -> dict[str, int]:
    r, o, u, a = (t.c for t in (tables.rentals, tables.outbox, tables.users, tables.agent_commands))
    async with db.read.connect() as conn:
        rentals = await conn.scalar(
            select(func.count()).select_from(tables.rentals).where(r.state.in_(list(BETWEEN)))
        )
        unsent = await conn.scalar(
            select(func.count())
            .select_from(tables.outbox.join(tables.users, u.id == o.user_id))
            .where(o.sent_at.is_(None), u.platform == platform, o.next_attempt_at < 2**62)
        )
        commands = await conn.scalar(
            select(func.count()).select_from(tables.agent_commands).where(a.done_at.is_(None))
        )
    return {"rentals": int(rentals), "unsent": int(unsent), "commands": int(commands)}


async def quiesce(db: Database, within: float) -> None:
    last: dict[str, int] = {}

    async def idle() -> bool:
        last.update(await outstanding(db))
        return not any(last.values())

    try:
        await eventually(idle, within, "the system to settle", every=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still outstanding: {last}") from None
