"""Per-user rate limits for the chat front ends: in memory (one process) or in Redis (several).

``await limiter.allow(key)`` is True when the user may go on. The memory limiter is a token
bucket (``per_second`` refill, ``burst`` size); the Redis limiter counts per fixed window of
``burst / per_second`` seconds, which allows the same average and burst across processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def allow(self, key: str) -> bool: ...


class MemoryRateLimiter:
    """Token buckets in a dict; the oldest tenth is dropped when ``max_keys`` is reached."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second, self.burst = per_second, burst
        self._max = max_keys
        self._now = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    async def allow(self, key: str) -> bool:
        now = self._now()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
        allowed = tokens >= 1.0
        if key not in self._buckets and len(self._buckets) >= self._max:
            for old in list(self._buckets)[: max(1, self._max // 10)]:
                del self._buckets[old]
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class RedisRateLimiter:
    """A counter per key and window (INCR, EXPIRE) in Redis, shared by every process.

    ``redis`` is a ``redis.asyncio.Redis``. A Redis error lets the user through: a broken
    limiter must not take the bot down.
    """

    def __init__(
        self,
        redis: Any,
        per_second: float,
        burst: int,
        *,
        prefix: str = "rigshare:rl",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.burst = burst
        self.window_s = max(1, round(burst / per_second))
        self.prefix = prefix
        self._clock = clock

    async def allow(self, key: str) -> bool:
        window = int(self._clock()) // self.window_s
        name = f"{self.prefix}:{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, self.window_s + 1)
                count, _ = await pipe.execute()
        except Exception as exc:  # see the class docstring
            log.warning("rate limiter: Redis unavailable (%s); letting the request through", exc)
            return True
        return int(count) <= self.burst
