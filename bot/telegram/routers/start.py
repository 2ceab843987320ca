"""/start (also the deep link back from a group), /help, /lang, /cancel."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.grammar.registry import BY_NAME
from core.services.views import Principal


def router() -> Router:
    r = Router(name="start")
    r.message.register(start_or_help, CommandStart())
    r.message.register(start_or_help, Command(*BY_NAME["start"].aliases, *BY_NAME["help"].words))
    r.message.register(lang, Command(*BY_NAME["lang"].words))
    r.message.register(cancel, Command(*BY_NAME["cancel"].words))
    return r


async def start_or_help(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)


async def lang(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    reply = await tg.text(message, who, state)
    if not reply.error and message.from_user is not None:
        tg.identity.forget(message.from_user.id)  # the next update reads the new language


async def cancel(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)  # the dispatcher ends the question it asked
