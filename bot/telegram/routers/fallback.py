"""Everything else: aliases and unknown commands get the grammar's answer ("did you mean");
plain text in a private chat is read as a command without the slash ("rent 4090 3h").
Commands addressed to another bot in a group, and group chatter, are left alone."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.services.views import Principal


def router() -> Router:
    r = Router(name="fallback")
    r.message.register(other_command, F.text.startswith("/"))
    r.message.register(plain_text, F.chat.type == "private", F.text)
    return r


async def other_command(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    word = (message.text or "").split(maxsplit=1)[0]
    _, at, mention = word.partition("@")
    if at and mention.casefold() != tg.responder.username.casefold():
        return
    await tg.text(message, who, state)


async def plain_text(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)
