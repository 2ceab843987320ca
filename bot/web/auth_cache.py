"""Which machine a long-polling agent is, without a database read per poll.

Idle long-polls are most of the agent API's traffic (10,000 agents re-poll ~400 times a
second, and all reconnect at once after a restart). A token checked once is remembered;
tokens not yet known are looked up together (one query for all polls that arrive while the
previous lookup runs); every ``interval`` seconds all remembered tokens are checked again in
bulk, and a heartbeat refused for a token forgets it at once, so a rotated token stops polling
within ``interval`` seconds. Heartbeats and results always check the token.
"""

from __future__ import annotations

import asyncio
import logging

from core.errors import Forbidden
from core.services.agents import AgentService
from core.services.providers import hash_token

log = logging.getLogger(__name__)
MAX_ENTRIES = 200_000
MAX_TOKEN_LENGTH = 200


class PollAuthCache:
    def __init__(self, agents: AgentService, *, interval: float = 30.0) -> None:
        self._agents = agents
        self.interval = interval
        self._known: dict[str, int] = {}
        self._token_of: dict[int, str] = {}
        self._waiting: dict[str, asyncio.Future] = {}
        self._lookup: asyncio.Task | None = None

    async def machine(self, token: str) -> int:
        """The token's machine id; raises Forbidden for an unknown or revoked token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Forbidden("Unknown agent token.")
        key = hash_token(token)
        machine_id = self._known.get(key)
        if machine_id is not None:
            return machine_id
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)  # a poll that gave up leaves no warning
            if self._lookup is None or self._lookup.done():
                self._lookup = asyncio.create_task(self._look_up())
        return await asyncio.shield(future)

    async def _look_up(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            try:
                found = await self._agents.machines_for_token_hashes(list(batch))
            except Exception as exc:
                log.exception("looking up %d agent tokens failed", len(batch))
                for future in batch.values():
                    future.set_exception(exc)
                continue
            for key, future in batch.items():
                if key in found:
                    self._remember(key, found[key])
                    future.set_result(found[key])
                else:
                    future.set_exception(Forbidden("Unknown agent token."))

    def _remember(self, key: str, machine_id: int) -> None:
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
            self._token_of.clear()
        old = self._token_of.get(machine_id)
        if old is not None and old != key:
            self._known.pop(old, None)  # the machine has a new token: the old one is dead
        self._known[key] = machine_id
        self._token_of[machine_id] = key

    def forget(self, token_hash: str) -> None:
        machine_id = self._known.pop(token_hash, None)
        if machine_id is not None and self._token_of.get(machine_id) == token_hash:
            del self._token_of[machine_id]

    async def revalidate(self) -> int:
        """Forget every remembered token that is no longer valid; returns how many."""
        keys = list(self._known)
        valid = await self._agents.machines_for_token_hashes(keys)
        dead = [k for k in keys if k not in valid]
        for key in dead:
            self.forget(key)
        return len(dead)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.revalidate()
            except Exception:
                log.exception("revalidating agent tokens failed")


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
