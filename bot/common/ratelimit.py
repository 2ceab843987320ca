"""Rate limits: the one in-memory token bucket (``TokenBuckets``), and the chat front ends'
per-user limiters built on it (one process) or on Redis (several).

``await limiter.allow(key)`` is True when the user may go on. The memory limiter is a token
bucket (``per_second`` refill, ``burst`` size); the Redis limiter counts per fixed window of
``burst / per_second`` seconds, which allows the same average and burst across processes. The
web endpoints (agent API, signing page) use ``TokenBuckets`` directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    async def allow(self, key: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int


class TokenBuckets:
    """``take(key)`` returns 0.0 when allowed, else the seconds until a token is free.

    Holds at most ``max_keys`` buckets; the oldest tenth is dropped when full (an evicted
    agent simply starts with a full bucket again).
    """

    def __init__(
        self,
        rate: Rate,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self._max = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - then) * self.rate.per_second)
        if tokens >= 1.0:
            self._store(key, tokens - 1.0, now)
            return 0.0
        self._store(key, tokens, now)
        return (1.0 - tokens) / self.rate.per_second

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max:
            for old in list(self._buckets)[: max(1, self._max // 10)]:
                del self._buckets[old]
        self._buckets[key] = (tokens, now)


class MemoryRateLimiter:
    """Token buckets per user in this process (``TokenBuckets``)."""

    def __init__(
        self,
        per_second: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second, self.burst = per_second, burst
        self._buckets = TokenBuckets(Rate(per_second, burst), max_keys=max_keys, clock=monotonic)

    async def allow(self, key: str) -> bool:
        return self._buckets.take(key) == 0.0


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
