"""Group commit for heartbeats: beats that arrive together are written in one transaction.

Ten thousand agents beating every 15 s are ~700 writes a second; one transaction each would
keep SQLite's single writer busy with commits. Beats queue here while the previous batch is
being written and go to :meth:`AgentService.heartbeat_many` together.
"""

from __future__ import annotations

import asyncio
import logging

from core.services.agents import AgentService
from core.services.isolation import reference
from core.wire import Heartbeat, HeartbeatAck

log = logging.getLogger(__name__)
MAX_BATCH = 500


class HeartbeatBatcher:
    """``await submit(token_hash, hb)`` -> ack. Raises what ``heartbeat_many`` reports for
    that beat (Forbidden for an unknown or revoked token) or the error writing that beat alone
    raised: one beat the database refuses never fails the others written with it."""

    def __init__(self, agents: AgentService, *, max_batch: int = MAX_BATCH) -> None:
        self._agents = agents
        self._max = max_batch
        self._queue: list[tuple[str, Heartbeat, asyncio.Future[HeartbeatAck]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.beats = 0

    async def submit(self, token_hash: str, hb: Heartbeat) -> HeartbeatAck:
        future: asyncio.Future[HeartbeatAck] = asyncio.get_running_loop().create_future()
        self._queue.append((token_hash, hb, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Let the batch being written finish."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            self.batches += 1
            self.beats += len(batch)
            results = await self._write(batch)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():  # the request was cancelled meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _write(
        self, batch: list[tuple[str, Heartbeat, asyncio.Future[HeartbeatAck]]]
    ) -> list[HeartbeatAck | BaseException]:
        """One result per beat. A batch whose transaction fails is written again in halves,
        down to the beat that fails alone: its sender gets the error (logged with a
        reference), every other beat commits."""
        try:
            return list(await self._agents.heartbeat_many([(h, hb) for h, hb, _ in batch]))
        except Exception as exc:
            if len(batch) == 1:
                ref = reference("heartbeat")
                log.exception("a heartbeat could not be written, reference %s", ref)
                return [exc]
            log.warning("writing %d heartbeats together failed; writing them apart", len(batch))
        half = len(batch) // 2
        return [*await self._write(batch[:half]), *await self._write(batch[half:])]
