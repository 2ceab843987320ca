"""The benchmark's Bot API stand-in and update feeder.

Unlike the tests' ``FakeTelegram``, which keeps every call for assertions (its heap grows
with the run), ``QuietTelegram`` keeps nothing: each call is handed to the update being
handled (a context variable set by ``Feeder.feed``, which aiogram's handling inherits), so a
simulated user reads exactly the messages its own update caused, however many updates are in
flight, and presses buttons on those.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram import Dispatcher as AiogramDispatcher
from aiogram.types import Update

from tests.bot.telegram.fake_telegram import Call, FakeTelegram
from tests.bot.telegram.support import TgUser, callback_query_json, message_json

_REPLIES: ContextVar[list[Call] | None] = ContextVar("bench_replies", default=None)


class QuietTelegram(FakeTelegram):
    """Answers as Telegram does; records a call only for the update that caused it."""

    async def call(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> tuple[int, dict]:
        call = Call(method, params, files)
        call.result = self._result(call)
        replies = _REPLIES.get()
        if replies is not None:
            replies.append(call)
        return 200, {"ok": True, "result": call.result}


class Feeder:
    """Feeds updates through ``Dispatcher.feed_update`` as Telegram would send them and
    returns the Bot API calls each one caused."""

    def __init__(self, dp: AiogramDispatcher, bot: Bot, now: int) -> None:
        self.dp, self.bot, self.now = dp, bot, now
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)

    async def feed(self, update: dict) -> list[Call]:
        replies: list[Call] = []
        token = _REPLIES.set(replies)
        try:
            parsed = Update.model_validate(
                {"update_id": next(self._update_ids), **update}, context={"bot": self.bot}
            )
            await self.dp.feed_update(self.bot, parsed)
        finally:
            _REPLIES.reset(token)
        return replies

    async def send(self, user: TgUser, text: str) -> list[Call]:
        message = message_json(next(self._message_ids), self.now, user.id, user, text)
        return await self.feed({"message": message})

    async def press(self, user: TgUser, sent: Call, data: str) -> list[Call]:
        query = callback_query_json(next(self._update_ids) * 7919, user, sent, data)
        return await self.feed({"callback_query": query})


def button_data(sent: Call, prefix: str) -> str | None:
    """The callback data of the button on ``sent`` whose data starts with ``prefix``."""
    for b in sent.buttons():
        if b.get("callback_data", "").startswith(prefix):
            return b["callback_data"]
    return None
