"""The Discord application: an AutoShardedBot around the services bot/serve.py hands it.

``setup_hook`` adds the slash commands generated from the command registry
(bot/discord/slash.py) and the board cog, registers the persistent buttons and syncs the
slash commands (globally, or to one test server at once with DISCORD_GUILD_ID). Only the
``guilds`` and ``dm_messages`` intents are used, neither privileged: slash commands and
buttons, plus the plain messages of a user's DM with the bot (the answer to a question the
bot asked, like "For how long?"; Discord gives DM text without the message content intent).
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.common.outbox import OutboxSender, SendLimits
from bot.common.ratelimit import RedisRateLimiter
from bot.common.services import ChatFrontServices
from bot.discord.cogs.board import BoardCog
from bot.discord.front import DiscordFront
from bot.discord.notifier import DiscordNotifier
from bot.discord.slash import slash_commands
from bot.discord.translate import CatalogueTranslator
from bot.discord.views import ActionButton

log = logging.getLogger(__name__)
# Discord: 50 requests a second per bot; DMs to one user about 5 per 5 seconds
DISCORD_LIMITS = SendLimits(per_second=25.0, per_chat_interval_s=1.0)


class RigshareBot(commands.AutoShardedBot):
    def __init__(
        self,
        app: ChatFrontServices,
        *,
        sync: bool = True,
        test_guild_id: int | None = None,
        board_every_s: float = 60.0,
        status_every_s: float = 20.0,
        outbox: bool = False,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True, dm_messages=True),
            allowed_mentions=discord.AllowedMentions.none(),  # user text never pings anyone
            help_command=None,
        )
        self.app = app
        self.redis = None
        limiter = None
        if app.settings.redis_url:  # one limit per user across processes
            from redis.asyncio import Redis

            self.redis = Redis.from_url(app.settings.redis_url)
            s = app.settings
            limiter = RedisRateLimiter(
                self.redis, s.discord_rate_per_s, s.discord_rate_burst, prefix="rigshare:rl:dc"
            )
        self.front = DiscordFront(app, status_every_s=status_every_s, limiter=limiter)
        self.sync_commands = sync
        self.test_guild_id = test_guild_id
        self.board_every_s = board_every_s
        self.notifier = DiscordNotifier(self)
        self.sender = (
            OutboxSender(app.notifications, self.notifier, limits=DISCORD_LIMITS)
            if outbox
            else None
        )
        self._stop = asyncio.Event()
        self._sender_task: asyncio.Task | None = None

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogueTranslator())  # German descriptions
        for command in slash_commands():  # one per registry command
            self.tree.add_command(command, override=True)
        await self.add_cog(BoardCog(self, every_s=self.board_every_s))
        self.add_dynamic_items(ActionButton)
        if self.sender is not None:  # logged in: DMs can go out
            self._sender_task = asyncio.create_task(self.sender.run(self._stop))
        if not self.sync_commands:
            return
        if self.test_guild_id:
            guild = discord.Object(self.test_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands", len(synced))

    async def on_message(self, message: discord.Message) -> None:
        """A plain message in a DM is read like a typed line (an answer, or a command without
        the slash); server chatter is never read, and there are no prefix commands."""
        if message.guild is None and not getattr(message.author, "bot", False):
            await self.front.message(message)

    async def close(self) -> None:
        board = self.get_cog("BoardCog")
        if board is not None:
            board.refresher.cancel()
        await self.front.status.close()
        self._stop.set()
        if self._sender_task is not None:
            await self._sender_task
        if self.redis is not None:
            await self.redis.aclose()
        await super().close()


async def run_discord(
    app: ChatFrontServices, token: str, *, test_guild_id: int | None = None
) -> None:
    """Run the Discord front end (and its outbox sender) until cancelled. Raises
    discord.LoginFailure for a bad token."""
    bot = RigshareBot(app, test_guild_id=test_guild_id, outbox=True)
    async with bot:
        await bot.start(token)
