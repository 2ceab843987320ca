"""Outer middlewares on every update: rate limit, identity, language.

* ``RateLimitMiddleware`` drops a user's updates beyond the limit (in memory, or Redis when
  configured) and tells them once in a while to slow down.
* ``IdentityMiddleware`` turns the Telegram user into the core principal (``UserService``);
  the user's private chat id is their Telegram id, so notifications reach them there.
* ``LanguageMiddleware`` puts the reply language in the handler data: the user's choice from
  /lang, which starts as Telegram's language_code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Chat, TelegramObject, Update, User

from bot.common.i18n import language_of, t
from bot.common.ratelimit import RateLimiter
from core.services.users import UserService
from core.services.views import Principal

PLATFORM = "telegram"
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class RateLimitMiddleware(BaseMiddleware):
    def __init__(self, limiter: RateLimiter, *, notice_every_s: float = 10.0) -> None:
        self.limiter = limiter
        self.notice_every_s = notice_every_s
        self._noticed: dict[int, float] = {}
        self.dropped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or await self.limiter.allow(f"tg:{user.id}"):
            return await handler(event, data)
        self.dropped += 1
        lang = language_of(user.language_code)
        update = event if isinstance(event, Update) else None
        if update is not None and isinstance(update.callback_query, CallbackQuery):
            await update.callback_query.answer(t(lang, "telegram.rate_limited"))
            return None
        now = time.monotonic()
        chat: Chat | None = data.get("event_chat")
        if chat is not None and now - self._noticed.get(user.id, -1e9) >= self.notice_every_s:
            self._noticed[user.id] = now
            if len(self._noticed) > 10_000:
                self._noticed.clear()
            await data["bot"].send_message(chat.id, t(lang, "telegram.rate_limited"))
        return None


class IdentityMiddleware(BaseMiddleware):
    """Sets ``who`` (a Principal). Principals are cached for ``ttl_s`` per user and chat kind;
    /lang in this process forgets the user's entry (other processes catch up after the TTL)."""

    def __init__(
        self, users: UserService, *, ttl_s: float = 60.0, max_entries: int = 50_000
    ) -> None:
        self.users = users
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[tuple[int, bool], tuple[float, Principal]] = {}

    def forget(self, telegram_user_id: int) -> None:
        self._cache.pop((telegram_user_id, True), None)
        self._cache.pop((telegram_user_id, False), None)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or user.is_bot:
            return None  # channel posts and other bots: nothing to answer
        private = chat is None or chat.type == "private"
        data["who"] = await self.principal(user, private)
        return await handler(event, data)

    async def principal(self, user: User, private: bool) -> Principal:
        key = (user.id, private)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        who = await self.users.identify(
            PLATFORM,
            str(user.id),
            user.username or user.full_name,
            lang_hint=language_of(user.language_code),
            chat_id=str(user.id),  # a user's private chat with a bot has the user's id
            private_chat=private,
        )
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = (now, who)
        return who


class LanguageMiddleware(BaseMiddleware):
    """Sets ``lang``: the principal's language (from Telegram first, then from /lang)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        who: Principal | None = data.get("who")
        user: User | None = data.get("event_from_user")
        data["lang"] = who.lang if who else language_of(user.language_code if user else None)
        return await handler(event, data)
