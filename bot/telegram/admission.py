"""Telegram updates through the process's admission control (``bot.common.admission``).

``AdmissionMiddleware`` is the outermost middleware, so every way an update comes in waits
for a slot before it touches the database (even the handled-once ledger): polling, the
webhook and ``Dispatcher.feed_update``. ``GatedWebhook`` answers Telegram at once, as
aiogram's handler does, and while the waiting line is full it answers 503 instead: Telegram
keeps the update and sends it again later, so the backlog waits at Telegram, not here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.common.admission import Admission

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_AFTER_S = 1


class AdmissionMiddleware(BaseMiddleware):
    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.admission.slot():
            return await handler(event, data)


class GatedWebhook(SimpleRequestHandler):
    """aiogram's webhook handler (updates handled in the background), refusing with 503
    while the process's waiting line is full."""

    def __init__(self, admission: Admission, **kwargs: Any) -> None:
        super().__init__(handle_in_background=True, **kwargs)
        self.admission = admission

    async def handle(self, request: web.Request) -> web.Response:
        if self.admission.full:
            bot = await self.resolve_bot(request)
            if self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
                self.admission.refuse()
                return web.Response(
                    status=503, text="busy", headers={"Retry-After": str(RETRY_AFTER_S)}
                )
        return await super().handle(request)

    __call__ = handle
