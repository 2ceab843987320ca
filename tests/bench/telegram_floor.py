"""The reference points of the Telegram benchmark, on the same stand-in and feeder.

* bare aiogram: one handler that replies, nothing else (aiogram's own cost);
* the database floor: the same handler after one SELECT and one write transaction through
  SQLAlchemy async sessions on the engines ``core.db.engine.create_database`` makes (what
  any bot on this stack that reads and writes once per update pays).

rigshare does more per update (handled-once ledger, identity, rate limit, the command's own
queries), so matching the floor means the rest costs no more than one extra round.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram import Dispatcher as AiogramDispatcher
from aiogram.types import Message
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, update

from core.db.engine import Database

_meta = MetaData()
seen = Table(
    "bench_floor_seen",
    _meta,
    Column("user_id", Integer, primary_key=True),
    Column("updates", Integer, nullable=False),
)


def bare() -> AiogramDispatcher:
    router = Router()

    @router.message()
    async def reply(message: Message, bot: Bot) -> None:
        await message.answer("ok")

    dp = AiogramDispatcher()
    dp.include_router(router)
    return dp


async def floor(db: Database, user_ids: list[int]) -> AiogramDispatcher:
    """A bot that reads the user's row and counts the update in a write transaction."""
    async with db.write.begin() as conn:
        await conn.run_sync(_meta.create_all)
        await conn.execute(insert(seen), [{"user_id": u, "updates": 0} for u in user_ids])
    reads, writes = db.sessions(readonly=True), db.sessions()
    router = Router()

    @router.message()
    async def reply(message: Message, bot: Bot) -> None:
        uid = message.from_user.id if message.from_user else 0
        async with reads() as s:
            n = (await s.execute(select(seen.c.updates).where(seen.c.user_id == uid))).scalar()
        async with writes() as s:
            await s.execute(
                update(seen).where(seen.c.user_id == uid).values(updates=seen.c.updates + 1)
            )
            await s.commit()
        await message.answer(f"ok {n}")

    dp = AiogramDispatcher()
    dp.include_router(router)
    return dp
