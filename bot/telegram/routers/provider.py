"""Provider commands. They answer only in a private chat: in a group the core refuses them
(``Principal.private_chat`` is False) and nothing about the provider is shown there."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.grammar.registry import group_words
from core.services.views import Principal


def router() -> Router:
    r = Router(name="provider")
    r.message.register(provider, Command(*group_words("provider")))
    return r


async def provider(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)
