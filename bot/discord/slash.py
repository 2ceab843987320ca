"""Slash commands generated from the command registry (core/grammar/registry.py).

One ``app_commands.Command`` per registry command, with the registry's typed options (text,
whole numbers with their bounds, yes/no, fixed choices), their autocompletion, and the
catalogue's descriptions (English here; German through bot/discord/translate.py). The
callback hands the option values to ``DiscordFront.options``, which builds the command
through the registry's value parsers: no chat line is rebuilt and parsed again.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import discord
from discord import app_commands

from bot.common.i18n import t
from bot.discord.complete import duration_autocomplete, gpu_autocomplete, rental_autocomplete
from core.grammar import SPECS
from core.grammar.registry import BOOL, CHOICE, INT, PROVIDER, CommandSpec, Option

MAX_OPTIONS = 25  # Discord's limits
MAX_DESCRIPTION = 100


async def topic_autocomplete(interaction, current: str) -> list[app_commands.Choice[str]]:  # noqa: ANN001
    typed = current.strip().removeprefix("/").casefold()
    names = [s.name for s in SPECS]
    return [app_commands.Choice(name=f"/{n}", value=n) for n in names if typed in n][:25]


AUTOCOMPLETE = {
    "gpu": gpu_autocomplete,
    "duration": duration_autocomplete,
    "rental": rental_autocomplete,
    "topic": topic_autocomplete,
}


def annotation(option: Option) -> Any:  # noqa: ANN401 - a type for discord.py to read
    """The Python type discord.py turns into the option's Discord type and bounds."""
    if option.kind == INT:
        base: Any = app_commands.Range[int, option.low, option.high]
    elif option.kind == BOOL:
        return bool  # never required: left out means no
    elif option.kind == CHOICE:
        base = Literal[option.choices]
    elif option.max_length:
        base = app_commands.Range[str, 1, option.max_length]
    else:
        base = str
    return base if option.required else base | None


def _signature(spec: CommandSpec) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("interaction", kind, annotation=discord.Interaction)]
    for o in sorted(spec.options, key=lambda o: not o.required):  # required ones first
        default = inspect.Parameter.empty if o.required else (False if o.kind == BOOL else None)
        params.append(inspect.Parameter(o.name, kind, annotation=annotation(o), default=default))
    return inspect.Signature(params)


def slash_command(spec: CommandSpec) -> app_commands.Command:
    """The slash command of one registry command; provider commands answer in DMs only."""
    dm_only = spec.audience == PROVIDER

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await interaction.client.front.options(interaction, spec.name, values, dm_only=dm_only)

    callback.__signature__ = _signature(spec)
    callback.__name__ = spec.name
    callback.__qualname__ = spec.name  # a free function: no cog is bound to it
    described = {o.name: t("en", spec.option_key(o.name))[:MAX_DESCRIPTION] for o in spec.options}
    if described:
        callback = app_commands.describe(**described)(callback)
    completed = {o.name: AUTOCOMPLETE[o.complete] for o in spec.options if o.complete}
    if completed:
        callback = app_commands.autocomplete(**completed)(callback)
    return app_commands.Command(
        name=spec.name,
        description=t("en", spec.description_key)[:MAX_DESCRIPTION],
        callback=callback,
    )


def slash_commands() -> list[app_commands.Command]:
    """Every registry command as a slash command."""
    return [slash_command(spec) for spec in SPECS]
