"""Provider commands: /register, /addmachine, /machines, /price, /pause, /resume, /earnings.

They answer in the user's DM with the bot only (agent tokens and payouts are nobody else's
business); in a server channel they say so, ephemerally, and touch nothing.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import lines
from bot.discord.complete import gpu_autocomplete

MACHINE = "Machine name, e.g. box1"
ALL_MACHINES = "Machine name (all machines when left out)"


class Provider(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.front = bot.front

    async def _run(self, interaction: discord.Interaction, line: str) -> None:
        await self.front.command(interaction, line, dm_only=True)

    @app_commands.command(name="register", description="Become a provider (DM only)")
    @app_commands.describe(payout_address="Where the escrow pays you: 0x and 40 hex characters")
    async def register(
        self, interaction: discord.Interaction, payout_address: str | None = None
    ) -> None:
        await self._run(interaction, lines.word_line("register", payout_address))

    @app_commands.command(
        name="addmachine", description="Add a GPU host; shows its agent token (DM only)"
    )
    @app_commands.describe(machine=MACHINE, region="A region code, e.g. eu")
    async def addmachine(
        self, interaction: discord.Interaction, machine: str, region: str | None = None
    ) -> None:
        await self._run(
            interaction,
            lines.word_line("addmachine", machine, f"region={region}" if region else None),
        )

    @app_commands.command(name="machines", description="Your machines and listings (DM only)")
    async def machines(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, lines.plain("machines"))

    @app_commands.command(name="price", description="Set a machine's price per GPU-hour (DM only)")
    @app_commands.describe(
        machine=MACHINE, price="USDC per GPU-hour, e.g. 0.65", gpu="Only this GPU model"
    )
    @app_commands.autocomplete(gpu=gpu_autocomplete)
    async def price(
        self, interaction: discord.Interaction, machine: str, price: str, gpu: str | None = None
    ) -> None:
        await self._run(interaction, lines.price_line(machine, price, gpu))

    @app_commands.command(name="pause", description="Stop offering a machine (DM only)")
    @app_commands.describe(machine=ALL_MACHINES)
    async def pause(self, interaction: discord.Interaction, machine: str | None = None) -> None:
        await self._run(interaction, lines.word_line("pause", machine))

    @app_commands.command(name="resume", description="Offer a paused machine again (DM only)")
    @app_commands.describe(machine=ALL_MACHINES)
    async def resume(self, interaction: discord.Interaction, machine: str | None = None) -> None:
        await self._run(interaction, lines.word_line("resume", machine))

    @app_commands.command(name="earnings", description="What your machines earned (DM only)")
    async def earnings(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, lines.plain("earnings"))
