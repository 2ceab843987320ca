"""Wakes agents' long-polls when a command is queued for their machine.

In this process the gateway wakes the machine at once; commands another service process
queued are found by one cheap query per ``poll_interval`` (new rows by id), so delivery stays
within a second without every waiting agent polling the database.
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
        self.poll_interval = poll_interval
        self.closed = False

    def watch(self, machine_id: int) -> asyncio.Event:
        """The event the next :meth:`wake` of this machine sets (register before reading)."""
        return self._events.setdefault(machine_id, asyncio.Event())

    def wake(self, machine_id: int) -> None:
        event = self._events.pop(machine_id, None)
        if event is not None:
            event.set()

    @property
    def waiting(self) -> int:
        return len(self._events)

    def open(self) -> None:
        self.closed = False

    def close(self) -> None:
        """Release every waiting long-poll (service shutdown)."""
        self.closed = True
        for machine_id in list(self._events):
            self.wake(machine_id)

    async def run(self) -> None:
        """Poll for commands queued elsewhere until cancelled."""
        last_id = await self._commands.latest_command_id()
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self._events:
                continue
            try:
                last_id, machines = await self._commands.queued_since(last_id)
            except Exception:
                log.exception("polling for queued agent commands failed")
                continue
            for machine_id in machines:
                self.wake(machine_id)
