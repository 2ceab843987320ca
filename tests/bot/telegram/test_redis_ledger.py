"""With REDIS_URL the handled-once ledger lives in Redis: an update that arrives twice (at one
process or at two behind a load balancer) is answered once, and the database writes no ledger
row for it."""

from __future__ import annotations

from aiogram.types import Update
from sqlalchemy import func, select

from core.db import tables
from tests.bot.telegram.support import ALICE, Harness, message_json
from tests.bot.telegram.test_redis_burst import redis_url  # noqa: F401 - the fixture


def _help(update_id: int) -> dict:
    return {
        "update_id": update_id,
        "message": message_json(update_id, 1_790_000_000, ALICE.id, ALICE, "/help"),
    }


async def test_an_update_twice_at_two_processes_is_answered_once(tg_app, redis_url):  # noqa: F811
    tg_app.settings = tg_app.settings.model_copy(update={"redis_url": redis_url})
    first, second = Harness(tg_app, limiter=None), Harness(tg_app, limiter=None)
    second.telegram = first.telegram  # one Bot API: count the answers together
    second.front.bot.session.telegram = first.telegram
    try:
        await first.start()
        assert first.front.once.ledger.__class__.__name__ == "RedisUpdateLedger"
        for harness, update_id in ((first, 7), (second, 7), (first, 7), (first, 8)):
            update = Update.model_validate(_help(update_id), context={"bot": harness.bot})
            await harness.front.dp.feed_update(harness.bot, update)
            await harness.front.once.flush()
        answers = first.telegram.sent("sendMessage", chat_id=ALICE.id)
        assert len(answers) == 2  # update 7 once, update 8 once
        assert first.front.once.duplicates + second.front.once.duplicates == 2
        async with tg_app.db.read.connect() as conn:
            rows = (
                await conn.execute(select(func.count()).select_from(tables.processed_updates))
            ).scalar()
        assert rows == 0  # nothing in the database
    finally:
        keys = [k async for k in first.front.redis.scan_iter(first.front.once.ledger.prefix + ":*")]
        if keys:
            await first.front.redis.delete(*keys)
        await first.close()
        await second.close()
