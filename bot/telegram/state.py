"""aiogram's FSM context for every update, without reading the state first.

aiogram's own ``FSMContextMiddleware`` reads the chat's state (``raw_state``) before every
update, for ``StateFilter``s. rigshare has none: its conversation state lives in the
key-value table (``bot.common.conversation``), and the FSM data holds only the actions of
buttons too long for callback data (``bot.telegram.keyboards.remember``). With Redis as the
storage that read was a round trip per update that nothing used; the handlers that need the
data read it through ``state`` when they do. Same context, same lock, same place in the chain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiogram import Bot
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UnreadStateMiddleware(FSMContextMiddleware):
    """Sets ``state`` and ``fsm_storage`` as aiogram does; never sets ``raw_state`` (a
    ``StateFilter`` added later would see no state: give it aiogram's middleware back)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self.resolve_event_context(cast(Bot, data["bot"]), data)
        data["fsm_storage"] = self.storage
        if context is None:
            return await handler(event, data)
        async with self.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)
