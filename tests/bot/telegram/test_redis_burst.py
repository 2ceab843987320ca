"""A burst of webhook updates on Redis: more Redis calls at once than the connection pool
holds wait for a connection instead of failing (redis-py's default pool raises "Too many
connections" past 100, which dropped FSM steps and rate-limit checks under load)."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from bot.common.ratelimit import RedisRateLimiter
from tests.bot.telegram.support import Harness
from tests.support import listening


def _redis_up() -> bool:
    return listening(6379, timeout=0.3)


@pytest.fixture
def redis_url() -> str:
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
        pytest.skip("Redis at 127.0.0.1:6379 is not reachable")
    return "redis://127.0.0.1:6379/0"


async def test_a_burst_larger_than_the_pool_waits_instead_of_failing(tg_app, redis_url, caplog):
    tg_app.settings = tg_app.settings.model_copy(update={"redis_url": redis_url})
    tg = Harness(tg_app, limiter=None)
    prefix = f"rigshare:burst:{secrets.token_hex(4)}"
    limiter = RedisRateLimiter(tg.front.redis, 1000.0, 1000, prefix=prefix)
    try:
        results = await asyncio.gather(*(limiter.allow(f"tg:{i % 50}") for i in range(400)))
        assert all(results)
        assert "Redis unavailable" not in caplog.text
        keys = [k async for k in tg.front.redis.scan_iter(f"{prefix}:*")]
        counts = await asyncio.gather(*(tg.front.redis.get(k) for k in keys))
        assert sum(int(c) for c in counts) == 400  # every call reached Redis
    finally:
        keys = [k async for k in tg.front.redis.scan_iter(f"{prefix}:*")]
        if keys:
            await tg.front.redis.delete(*keys)
        await tg.close()
