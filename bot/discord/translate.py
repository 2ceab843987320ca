"""German command and option descriptions for Discord clients set to German.

The slash command descriptions in the cogs are English; for the German locale this
translator looks them up in the German catalogue under ``discord.cmd.<command>`` and
``discord.opt.<command>.<option>``. Command and option names stay as they are: they are the
words of the one chat grammar.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.common.i18n import catalogue

_LANGS = {discord.Locale.german: "de"}
Location = app_commands.TranslationContextLocation


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext,
    ) -> str | None:
        lang = _LANGS.get(locale)
        key = _key(context)
        if lang is None or key is None:
            return None
        text = catalogue(lang).get(key)
        return text[:100] if text else None  # Discord's limit for descriptions


def _key(context: app_commands.TranslationContext) -> str | None:
    data = context.data
    if context.location is Location.command_description:
        return f"discord.cmd.{data.name}"
    if context.location is Location.parameter_description:
        return f"discord.opt.{data.command.name}.{data.name}"
    return None
