"""Wallet and SSH key: /connect, /sshkey (their replies are private: DMs from a group)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.grammar.registry import group_words
from core.services.views import Principal


def router() -> Router:
    r = Router(name="account")
    r.message.register(account, Command(*group_words("account")))
    return r


async def account(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)
