"""The outermost middleware: every Telegram update is handled once (``core.services.updates``).

Registered before every other middleware, so a duplicate costs one database round trip and
nothing else (no rate-limit token, no identity lookup, no reply). While another process is
handling the same update id, this one waits and asks again: the other finishes (this copy is
then dropped) or dies (its lease ends and this copy is handled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from core.services.updates import LEASE_S, UpdateLedger

log = logging.getLogger(__name__)
SOURCE = "telegram"
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class OnceMiddleware(BaseMiddleware):
    def __init__(self, ledger: UpdateLedger, *, poll_s: float = 0.5) -> None:
        self.ledger = ledger
        self.poll_s = poll_s
        self.duplicates = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        update_id = event.update_id
        waited = 0.0
        while True:
            claim = await self.ledger.claim(SOURCE, update_id)
            if claim.handle:
                break
            if claim.duplicate or waited > LEASE_S + 5:
                self.duplicates += 1
                log.info("update %s was handled already; dropped", update_id)
                return None
            await asyncio.sleep(self.poll_s)
            waited += self.poll_s
        try:
            return await handler(event, data)
        finally:
            await self.ledger.done(SOURCE, update_id)
