"""Wakes agents' long-polls when a command is queued for their machine, and spares the
database the polls of machines that have nothing queued.

In this process the gateway wakes the machine at once; commands another service process
queued are found by one cheap query per ``poll_interval`` (new rows by id), so delivery stays
within a second without every waiting agent polling the database. The hub also tracks which
machines may have unanswered commands ("dirty"); a long-poll of any other machine waits
without reading the database at all, which is what keeps 10,000 idle agents cheap.
"""

from __future__ import annotations

import asyncio
import logging

from core.services.agent_commands import AgentCommandService

log = logging.getLogger(__name__)


class CommandHub:
    def __init__(self, commands: AgentCommandService, *, poll_interval: float = 0.5) -> None:
        self._commands = commands
        self._events: dict[int, asyncio.Event] = {}
        self._dirty: set[int] = set()
        self._generation: dict[int, int] = {}
        self._ready = False  # until the start-up scan, every machine counts as dirty
        self.poll_interval = poll_interval
        self.closed = False

    def watch(self, machine_id: int) -> asyncio.Event:
        """The event the next :meth:`wake` of this machine sets (register before reading)."""
        return self._events.setdefault(machine_id, asyncio.Event())

    def wake(self, machine_id: int) -> None:
        """A command was queued for the machine: mark it dirty and release its long-polls."""
        self._generation[machine_id] = self._generation.get(machine_id, 0) + 1
        self._dirty.add(machine_id)
        event = self._events.pop(machine_id, None)
        if event is not None:
            event.set()

    def may_have_commands(self, machine_id: int) -> bool:
        return not self._ready or machine_id in self._dirty

    def generation(self, machine_id: int) -> int:
        return self._generation.get(machine_id, 0)

    def settle(self, machine_id: int, generation: int) -> None:
        """The database showed no open command for the machine when ``generation`` was
        current; unless it was woken since, polls may skip the database."""
        if self._ready and self._generation.get(machine_id, 0) == generation:
            self._dirty.discard(machine_id)

    @property
    def waiting(self) -> int:
        return len(self._events)

    def open(self) -> None:
        self.closed = False

    def close(self) -> None:
        """Release every waiting long-poll (service shutdown)."""
        self.closed = True
        for event in self._events.values():
            event.set()
        self._events.clear()

    async def run(self) -> None:
        """Scan for open commands once, then poll for commands queued elsewhere until
        cancelled."""
        self._ready = False
        while True:
            try:
                last_id, dirty = await self._commands.open_state()
                break
            except Exception:
                log.exception("scanning for open agent commands failed; retrying")
                await asyncio.sleep(self.poll_interval)
        for machine_id in dirty:
            self.wake(machine_id)
        self._ready = True
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                last_id, machines = await self._commands.queued_since(last_id)
            except Exception:
                log.exception("polling for queued agent commands failed")
                continue
            for machine_id in machines:
                self.wake(machine_id)
