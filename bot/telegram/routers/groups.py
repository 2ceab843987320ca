"""The command groups the shared dispatcher answers whole (``Tg.text``), with no buttons of
their own on Telegram; one router per group, named after it:

- ``rentals``, a running rental: /status (one live message), /extend, /stop, /rate, /receipts
  (CSV as a document), /dispute (the shared dispatcher asks for a missing reason; Tg.text
  shows the evidence after a dispute);
- ``account``, wallet and SSH key: /connect, /sshkey (their replies are private: DMs from a
  group);
- ``provider``, provider commands. They answer only in a private chat: in a group the core
  refuses them (``Principal.private_chat`` is False) and nothing about the provider is shown
  there.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.telegram.context import Tg
from core.grammar.registry import group_words
from core.services.views import Principal

GROUPS = ("rentals", "account", "provider")


def router(group: str) -> Router:
    r = Router(name=group)
    r.message.register(group_command, Command(*group_words(group)))
    return r


async def group_command(message: Message, tg: Tg, who: Principal, state: FSMContext) -> None:
    await tg.text(message, who, state)
