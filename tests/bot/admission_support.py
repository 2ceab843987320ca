"""Counting how many calls of a method run at once (admission control tests)."""

from __future__ import annotations

import asyncio


class Concurrency:
    """Wraps an async method and records how many calls ran at once at most."""

    def __init__(self, target: object, name: str) -> None:
        self.now = self.peak = self.calls = 0
        original = getattr(target, name)

        async def counted(*args, **kwargs):
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
            try:
                await asyncio.sleep(0.005)  # the others get a chance to enter meanwhile
                return await original(*args, **kwargs)
            finally:
                self.now -= 1

        setattr(target, name, counted)
