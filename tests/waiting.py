"""Polling helper for tests that wait on another task or process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[object]],
    within: float = 5.0,
    what: str = "the check",
    every: float = 0.05,
) -> object:
    """The first truthy value ``check()`` returns (asked every ``every`` seconds);
    AssertionError naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)


async def holds(value: object) -> object:
    return value
