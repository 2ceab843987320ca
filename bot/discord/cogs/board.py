"""/board (server admins): post the public /gpus board, and refresh every board each minute."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.common.dispatch import Reply
from bot.common.i18n import t
from bot.discord import deliver
from bot.discord.board import Board, server_lang

log = logging.getLogger(__name__)


class BoardCog(commands.Cog):
    def __init__(self, bot: commands.Bot, *, every_s: float = 60.0) -> None:
        self.bot = bot
        self.front = bot.front
        self.board = Board(bot.front)
        self.refresher = tasks.loop(seconds=every_s)(self._refresh)
        self.refresher.before_loop(self._ready)

    async def cog_load(self) -> None:
        self.refresher.start()

    async def cog_unload(self) -> None:
        self.refresher.cancel()

    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    async def _refresh(self) -> None:
        try:
            await self.board.refresh(self._channel)
        except Exception:
            log.exception("board refresh failed")

    async def _channel(self, channel_id: int):  # noqa: ANN202 - a messageable channel
        return self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)

    @app_commands.command(
        name="board", description="Post a GPU board here that keeps itself current (admins)"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def board_command(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        who = await self.front.who(interaction)
        if interaction.guild_id is None or interaction.channel is None:
            text, error = t(who.lang, "discord.guild_only"), True
        elif not interaction.permissions.manage_guild:  # default_permissions can be overridden
            text, error = t(who.lang, "discord.admin_only"), True
        else:
            try:
                await self.board.post(
                    interaction.channel, interaction.guild_id, server_lang(interaction)
                )
                text, error = t(who.lang, "discord.board_posted"), False
            except discord.Forbidden:  # the bot may not write here
                text, error = t(who.lang, "discord.board_forbidden"), True
        await deliver.answer(interaction, Reply(text, error=error), who.lang)
