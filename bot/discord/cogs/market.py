"""/start, /help, /gpus and /rent."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import lines
from bot.discord.complete import duration_autocomplete, gpu_autocomplete
from core.grammar import COMMANDS

Sort = Literal["price", "reliability", "vram"]


async def topic_autocomplete(interaction, current: str) -> list[app_commands.Choice[str]]:  # noqa: ANN001
    typed = current.strip().removeprefix("/").casefold()
    return [app_commands.Choice(name=f"/{n}", value=n) for n in COMMANDS if typed in n][:25]


class Market(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.front = bot.front

    @app_commands.command(name="start", description="What rigshare is and how to begin")
    async def start(self, interaction: discord.Interaction) -> None:
        await self.front.command(interaction, lines.plain("start"))

    @app_commands.command(name="help", description="All commands, or help on one")
    @app_commands.describe(topic="A command, e.g. rent")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def help(self, interaction: discord.Interaction, topic: str | None = None) -> None:
        await self.front.command(interaction, lines.help_line(topic))

    @app_commands.command(name="gpus", description="GPUs free to rent now")
    @app_commands.describe(
        gpu="A GPU model, e.g. 4090 or H100",
        max_price="Highest price per GPU-hour in USDC, e.g. 1.20",
        region="A region code, e.g. eu or us-east",
        min_vram="Least GPU memory in GB",
        min_reliability="Least reliability in percent",
        verified="Only verified hosts",
        sort="Order of the list",
        page="Page number",
        min_ram="Least RAM per GPU in GB",
        min_disk="Least disk per GPU in GB",
        min_cpu="Least CPU cores per GPU",
        min_cuda="Least CUDA version, e.g. 12.4",
    )
    @app_commands.autocomplete(gpu=gpu_autocomplete)
    async def gpus(
        self,
        interaction: discord.Interaction,
        gpu: str | None = None,
        max_price: str | None = None,
        region: str | None = None,
        min_vram: app_commands.Range[int, 1, 4096] | None = None,
        min_reliability: app_commands.Range[int, 0, 100] | None = None,
        verified: bool = False,
        sort: Sort | None = None,
        page: app_commands.Range[int, 1, 10000] | None = None,
        min_ram: app_commands.Range[int, 1, 65536] | None = None,
        min_disk: app_commands.Range[int, 1, 100000] | None = None,
        min_cpu: app_commands.Range[int, 1, 4096] | None = None,
        min_cuda: str | None = None,
    ) -> None:
        line = lines.gpus_line(
            gpu,
            max_price,
            region,
            min_vram,
            min_reliability,
            verified,
            sort,
            page,
            min_ram,
            min_disk,
            min_cpu,
            min_cuda,
        )
        await self.front.command(interaction, line)

    @app_commands.command(name="rent", description="Quote the best GPU for how long you need it")
    @app_commands.describe(
        gpu="A GPU model, e.g. 4090 or H100, or a listing number like #17",
        duration="How long, e.g. 3h, 90m or 1d",
        max_price="Highest price per GPU-hour in USDC, e.g. 1.20",
        region="A region code, e.g. eu",
        count="How many GPUs in one machine",
        template="A template, e.g. pytorch or jupyter (/templates)",
        image="A template, or your own image like ghcr.io/me/train:v2",
        ports="Container ports to publish, e.g. 8080,6006",
        disk="At least this much disk in GB",
    )
    @app_commands.autocomplete(gpu=gpu_autocomplete, duration=duration_autocomplete)
    async def rent(
        self,
        interaction: discord.Interaction,
        gpu: str,
        duration: str,
        max_price: str | None = None,
        region: str | None = None,
        count: app_commands.Range[int, 1, 16] | None = None,
        template: str | None = None,
        image: str | None = None,
        ports: str | None = None,
        disk: app_commands.Range[int, 1, 100000] | None = None,
    ) -> None:
        line = lines.rent_line(
            gpu, duration, max_price, region, count, template, image, ports, disk
        )
        await self.front.command(interaction, line)

    @app_commands.command(name="templates", description="Images and templates providers offer")
    @app_commands.describe(gpu="A GPU model, or a listing number like #17")
    @app_commands.autocomplete(gpu=gpu_autocomplete)
    async def templates(self, interaction: discord.Interaction, gpu: str | None = None) -> None:
        await self.front.command(interaction, lines.templates_line(gpu))
