"""The outermost middleware: every Telegram update is handled once (``core.services.updates``).

Registered before every other middleware, so a duplicate costs one database round trip and
nothing else (no rate-limit token, no identity lookup, no reply). While another process is
handling the same update id, this one waits and asks again: the other finishes (this copy is
then dropped) or dies (its lease ends and this copy is handled).

The ledger writes are grouped: claims of updates that arrive while a write is in flight go
together in the next transaction, and "done" marks ride along with it (or go by themselves
when nothing else is queued). A done mark that is a moment late only makes a duplicate wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from core.services.requests import answering
from core.services.updates import LEASE_S, Claim

log = logging.getLogger(__name__)
SOURCE = "telegram"
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Ledger(Protocol):
    """``core.services.updates.UpdateLedger`` (the database) or
    ``bot.common.redis_ledger.RedisUpdateLedger``."""

    async def claim_many(
        self, source: str, update_ids: list[int], done: list[int] = ...
    ) -> list[Claim]: ...


class OnceMiddleware(BaseMiddleware):
    def __init__(self, ledger: Ledger, *, poll_s: float = 0.5) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.duplicates = 0
        self.writes = 0
        self._claims: list[tuple[int, asyncio.Future[Claim]]] = []
        self._done: list[int] = []
        self._writer: asyncio.Task | None = None

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        waited = 0.0
        while True:
            claim = await self._claim(update_id)
            if claim.handle:
                break
            if claim.duplicate or waited > LEASE_S + 5:
                self.duplicates += 1
                log.info("update %s was handled already; dropped", update_id)
                return None
            await asyncio.sleep(self.poll_s)
            waited += self.poll_s
        bot = data.get("bot")
        try:
            # a handling that died after its effects committed runs again under the same
            # key: services that must not repeat an effect answer with the first one
            key = f"telegram:{getattr(bot, 'id', 0)}:{update_id}"
            with answering(key, first=claim.first):
                return await handler(event, data)
        finally:
            self._done.append(update_id)
            self._wake()

    async def flush(self) -> None:
        """Write what is queued (at shutdown: the last done marks)."""
        self._wake()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)

    async def _claim(self, update_id: int) -> Claim:
        future: asyncio.Future[Claim] = asyncio.get_running_loop().create_future()
        self._claims.append((update_id, future))
        self._wake()
        return await future

    def _wake(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._claims or self._done:
            await asyncio.sleep(0)  # updates started with this one join its group
            claims, self._claims = self._claims, []
            done, self._done = self._done, []
            self.writes += 1
            try:
                results = await self.ledger.claim_many(SOURCE, [i for i, _ in claims], done)
            except Exception as exc:
                log.exception("update ledger write failed")
                self._done.extend(done)  # tried again with the next write
                for _, future in claims:
                    if not future.done():
                        future.set_exception(exc)
                if not claims:
                    return  # only done marks: retried when the next update comes
                continue
            for (_, future), result in zip(claims, results, strict=True):
                if not future.done():
                    future.set_result(result)
