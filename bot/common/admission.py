"""Admission control: how many chat updates one process handles at once, and how many wait.

An update past capacity waits here, at the edge, in arrival order, holding nothing but its
own small task: not a database connection, not a lock. Without this bound a burst (a thousand
renters arriving in seconds) had hundreds of updates in flight, each holding or waiting for a
pooled connection; the pool's waits grew to its timeout and flows failed half-way. Each
process gets one ``Admission`` (``App.admission``), shared by every front end in it: the
Telegram webhook, polling and direct feeding (``bot.telegram.admission``), Discord's
interactions and DMs (``bot.discord.front``).

Past ``waiting`` queued updates the process is overloaded for real; a front end that can have
the update sent again (the Telegram webhook: Telegram retries) refuses it with ``full``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Admission:
    def __init__(self, in_flight: int, waiting: int) -> None:
        if in_flight < 1 or waiting < 0:
            raise ValueError("admission needs at least one update in flight")
        self.limit = in_flight
        self.queue = waiting
        self._slots = asyncio.Semaphore(in_flight)
        self.in_flight = 0
        self.waiting = 0
        self.peak_in_flight = 0
        self.peak_waiting = 0
        self.refused = 0  # updates a front end turned away because ``full``

    @property
    def full(self) -> bool:
        """No room left in the waiting line: refuse what can be sent again."""
        return self.waiting >= self.queue and self.in_flight >= self.limit

    def refuse(self) -> None:
        self.refused += 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Handle one update inside: waits (first come, first served) while ``limit``
        others are in flight."""
        self.waiting += 1
        self.peak_waiting = max(self.peak_waiting, self.waiting)
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
