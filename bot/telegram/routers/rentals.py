"""A running rental: /status (one live message), /extend, /stop, /rate, /receipts (CSV as a
document), /dispute (the shared dispatcher asks for a missing reason; Tg.text shows the
evidence after a dispute)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.grammar.registry import group_words
from core.services.views import Principal


def router() -> Router:
    r = Router(name="rentals")
    r.message.register(rental_command, Command(*group_words("rentals")))
    return r


async def rental_command(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)
