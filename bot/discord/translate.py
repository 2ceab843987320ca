"""German command names and descriptions for Discord clients set to German.

The slash commands are registered in English; for the German locale this translator gives each
command the German name the registry knows for it (``/mieten`` for ``/rent``: Discord shows one
name per language and still sends the registered name when it is used, so the dispatcher sees
``rent``), and the descriptions from the German catalogue under ``discord.cmd.<command>`` and
``discord.opt.<command>.<option>``. Option names stay as they are: they are the words of the
one chat grammar.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.common.i18n import catalogue
from core.grammar.registry import BY_NAME

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
        if lang == "de" and context.location is Location.command_name:
            spec = BY_NAME.get(context.data.name)
            return spec.de_name if spec is not None and spec.de_name else None
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
