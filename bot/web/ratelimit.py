"""Per-agent token buckets, in memory (one service process; Redis when scaled out)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


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
