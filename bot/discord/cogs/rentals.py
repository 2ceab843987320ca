"""/status, /extend, /stop, /receipts, /dispute and /rate."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import lines
from bot.discord.complete import duration_autocomplete, rental_autocomplete

RENTAL = "Rental number, e.g. 12 (your live one when left out)"


class Rentals(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.front = bot.front

    @app_commands.command(name="status", description="Your rental: time left, cost, GPU load")
    @app_commands.describe(rental=RENTAL)
    @app_commands.autocomplete(rental=rental_autocomplete)
    async def status(self, interaction: discord.Interaction, rental: str | None = None) -> None:
        await self.front.command(interaction, lines.ref_line("status", rental))

    @app_commands.command(name="extend", description="Prepay more time on your rental")
    @app_commands.describe(duration="How much longer, e.g. 2h", rental=RENTAL)
    @app_commands.autocomplete(duration=duration_autocomplete, rental=rental_autocomplete)
    async def extend(
        self, interaction: discord.Interaction, duration: str, rental: str | None = None
    ) -> None:
        await self.front.command(interaction, lines.extend_line(duration, rental))

    @app_commands.command(name="stop", description="End your rental now; unused time is refunded")
    @app_commands.describe(rental=RENTAL)
    @app_commands.autocomplete(rental=rental_autocomplete)
    async def stop(self, interaction: discord.Interaction, rental: str | None = None) -> None:
        await self.front.command(interaction, lines.ref_line("stop", rental))

    @app_commands.command(name="receipts", description="Your receipts (csv: as a file)")
    @app_commands.describe(csv="Attach them as a CSV file")
    async def receipts(self, interaction: discord.Interaction, csv: bool = False) -> None:
        await self.front.command(interaction, lines.receipts_line(csv))

    @app_commands.command(
        name="dispute", description="Dispute a rental; the host's evidence decides"
    )
    @app_commands.describe(reason="What went wrong", rental=RENTAL)
    @app_commands.autocomplete(rental=rental_autocomplete)
    async def dispute(
        self,
        interaction: discord.Interaction,
        reason: app_commands.Range[str, 1, 500],
        rental: str | None = None,
    ) -> None:
        await self.front.command(interaction, lines.dispute_line(reason, rental))

    @app_commands.command(name="rate", description="Rate a finished rental, 1 to 5 stars")
    @app_commands.describe(stars="1 to 5", rental=RENTAL, comment="A few words (optional)")
    @app_commands.autocomplete(rental=rental_autocomplete)
    async def rate(
        self,
        interaction: discord.Interaction,
        stars: app_commands.Range[int, 1, 5],
        rental: str | None = None,
        comment: app_commands.Range[str, 1, 500] | None = None,
    ) -> None:
        await self.front.command(interaction, lines.rate_line(stars, rental, comment))
