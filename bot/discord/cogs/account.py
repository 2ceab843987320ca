"""/connect, /sshkey and /lang."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import lines


class Account(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.front = bot.front

    @app_commands.command(name="connect", description="Link your wallet (or switch/disconnect)")
    @app_commands.describe(action="switch to another wallet, or disconnect")
    async def connect(
        self,
        interaction: discord.Interaction,
        action: Literal["switch", "disconnect"] | None = None,
    ) -> None:
        await self.front.command(interaction, lines.word_line("connect", action))

    @app_commands.command(name="sshkey", description="Use your own SSH public key for rentals")
    @app_commands.describe(key="The one line of ~/.ssh/id_ed25519.pub; leave out to see yours")
    async def sshkey(
        self, interaction: discord.Interaction, key: app_commands.Range[str, 1, 4096] | None = None
    ) -> None:
        await self.front.command(interaction, lines.word_line("sshkey", key))

    @app_commands.command(name="lang", description="Reply language: English or German")
    @app_commands.describe(lang="en or de; leave out to see the current one")
    async def lang(
        self, interaction: discord.Interaction, lang: Literal["en", "de"] | None = None
    ) -> None:
        await self.front.command(interaction, lines.word_line("lang", lang))
