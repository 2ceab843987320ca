"""Run the leader-only work (chain watcher, keeper) in exactly one of several processes.

Every ``rigshare run`` process serves chat updates, the agent API and the outbox; only the
process holding the leader lock (``core.db.leader``) mirrors the chain and runs the keeper,
because those submit transactions and move the chain cursor. A standby retries the lock every
``retry_s`` and takes over when the leader's database session ends (process killed, host
gone). Leadership is checked every ``check_s``; when it is lost the leader work is cancelled at
once, before another process can have started it twice for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.db.leader import LeaderLock

log = logging.getLogger(__name__)

LeaderWork = Callable[[], Awaitable[None]]


class Leadership:
    def __init__(
        self,
        lock: LeaderLock,
        work: list[LeaderWork],
        *,
        retry_s: float = 2.0,
        check_s: float = 1.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.lock = lock
        self.work = work
        self.retry_s = retry_s
        self.check_s = check_s
        self.on_change = on_change
        self.leading = asyncio.Event()
        self.terms = 0  # how many times this process became the leader

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Campaign, lead while the lock holds, stand by when it is lost; until ``stop``."""
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                if await self.lock.acquire():
                    await self._lead(stop)
                await _wait(stop, self.retry_s)
        finally:
            await self.lock.release()

    async def _lead(self, stop: asyncio.Event) -> None:
        self.terms += 1
        self.leading.set()
        self._changed(True)
        log.info("this process is now the leader (term %s)", self.terms)
        tasks = [asyncio.create_task(w()) for w in self.work]
        try:
            while not stop.is_set():
                await _wait(stop, self.check_s)
                if not await self.lock.held():
                    log.warning("leadership lost; stopping the chain watcher and keeper")
                    break
                for task in tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        log.error("leader task failed: %r; restarting it", task.exception())
                tasks = [
                    asyncio.create_task(w()) if t.done() else t
                    for t, w in zip(tasks, self.work, strict=True)
                ]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.leading.clear()
            self._changed(False)

    def _changed(self, leading: bool) -> None:
        if self.on_change is not None:
            self.on_change(leading)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
