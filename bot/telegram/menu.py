"""The command menu Telegram shows next to the input field, in English and German.

Generated from the command registry: everyone sees the renter commands; private chats also
list the provider commands (they only work there). Aliases are typed, not listed. The
descriptions are the commands' ``menu.<name>`` lines in the catalogues.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeDefault

from bot.common.i18n import t
from core.grammar.registry import PROVIDER, SPECS

MENU_LANGS = {None: "en", "de": "de"}  # Telegram language_code -> catalogue


def commands(lang: str, *, private: bool) -> list[BotCommand]:
    specs = [s for s in SPECS if private or s.audience != PROVIDER]
    return [BotCommand(command=s.name, description=t(lang, s.summary_key)) for s in specs]


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
