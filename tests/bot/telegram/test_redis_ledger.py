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


async def test_a_redis_claim_tells_a_first_claim_from_a_take_over(redis_url):  # noqa: F811
    """``Claim.first`` as the database ledger gives it: a take-over after the lease ran out
    (the key expired: deleted here, as Redis does at the lease's end) is not first."""
    import secrets

    from redis.asyncio import Redis

    from bot.common.redis_ledger import RedisUpdateLedger
    from core.services.updates import LEASE_S

    redis = Redis.from_url(redis_url)
    ledger = RedisUpdateLedger(redis, lambda: 1_790_000_000, prefix=f"t:{secrets.token_hex(4)}")
    try:
        new, busy = await ledger.claim_many("telegram", [5, 5])
        assert new.handle and new.first
        assert not busy.handle and not busy.first and not busy.duplicate
        # asked again when the lease Redis holds runs out
        assert 1_790_000_000 + LEASE_S - 1 <= busy.retry_at <= 1_790_000_000 + LEASE_S
        await redis.delete(ledger._key("telegram", 5))  # the handler died: its lease ends
        (taken,) = await ledger.claim_many("telegram", [5])
        assert taken.handle and not taken.first
        (other,) = await ledger.claim_many("telegram", [6], done=[5])
        assert other.handle and other.first
        (done,) = await ledger.claim_many("telegram", [5])
        assert done.duplicate and not done.first
    finally:
        keys = [k async for k in redis.scan_iter(ledger.prefix + ":*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
