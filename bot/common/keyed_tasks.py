"""Background loops kept one per key (a live /status message per chat and rental, or per
user): starting one cancels the one it replaces, a finished one drops out by itself, and
``close`` cancels them all and waits for them to end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class OnePerKey(Generic[K]):
    def __init__(self) -> None:
        self.running: dict[K, asyncio.Task[None]] = {}

    def cancel(self, key: K) -> None:
        old = self.running.pop(key, None)
        if old is not None:
            old.cancel()

    def start(self, key: K, loop: Coroutine[Any, Any, None]) -> None:
        """Run ``loop`` for ``key`` in place of the one running for it, if any."""
        self.cancel(key)
        task = asyncio.create_task(loop)
        self.running[key] = task
        task.add_done_callback(lambda done: self._drop(key, done))

    def _drop(self, key: K, task: asyncio.Task[None]) -> None:
        if self.running.get(key) is task:  # not a newer one started for the same key
            del self.running[key]

    async def close(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
