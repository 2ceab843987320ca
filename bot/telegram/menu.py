"""The command menu Telegram shows next to the input field, in English and German.

Everyone sees the renter commands; private chats also list the provider commands (they only
work there). Descriptions come from the ``menu`` section of the catalogues.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeDefault

from bot.common.i18n import t
from core.grammar import PROVIDER_COMMANDS, RENTER_COMMANDS

MENU_LANGS = {None: "en", "de": "de"}  # Telegram language_code -> catalogue


def commands(lang: str, *, private: bool) -> list[BotCommand]:
    names = RENTER_COMMANDS + (PROVIDER_COMMANDS if private else ())
    return [BotCommand(command=n, description=t(lang, f"menu.{n}")) for n in names]


async def set_menu(bot: Bot) -> None:
    """Register the menus (4 calls: 2 scopes x 2 languages). Raises TelegramAPIError."""
    for code, lang in MENU_LANGS.items():
        await bot.set_my_commands(
            commands(lang, private=False), scope=BotCommandScopeDefault(), language_code=code
        )
        await bot.set_my_commands(
            commands(lang, private=True),
            scope=BotCommandScopeAllPrivateChats(),
            language_code=code,
        )
