"""Tracks the tasks fakes start, so tests and the terminal can wait until all is quiet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[object]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def settle(self, rounds: int = 100) -> None:
        """Wait until no task is pending (tasks may start further tasks)."""
        for _ in range(rounds):
            if not self._tasks:
                return
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        raise RuntimeError("background tasks keep spawning")
