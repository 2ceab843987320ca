"""`rigshare run` with DISCORD_TOKEN: the bot starts, syncs its commands and its outbox
sender delivers DMs; a refused token stops only the Discord front end."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from pydantic import SecretStr

from bot import serve
from bot.common.outbox import SendLimits
from bot.discord import bot as discord_bot
from core.domain.listings import ListingQuery
from tests.bot.discord.fakes import FakeUser, Transcript
from tests.bot.discord.support import approve_all, with_wallet
from tests.support import add_provider


async def test_run_discord_syncs_and_delivers_the_outbox_by_dm(app, monkeypatch):
    transcript = Transcript()
    alice = FakeUser(transcript, "alice")
    seen: dict = {}

    async def sync(self, *, guild=None):
        seen["synced"] = guild.id if guild else "global"
        return []

    async def start(self, token, *, reconnect=True):  # the gateway: not reachable here
        seen["token"] = token
        monkeypatch.setattr(self, "get_user", {alice.id: alice}.get)
        await self.setup_hook()  # what login() runs once the token is accepted
        who = await with_wallet(self, alice)
        quote = await app.market.quote(who, ListingQuery(model="rtx4090"), 3600)
        await app.rentals.confirm(who, quote.rental_id)
        await approve_all(app)
        self.sender.wake()
        for _ in range(300):
            if any("ssh -p" in (v.content or "") for v in transcript.seen("dm")):
                return
            await asyncio.sleep(0.01)

    monkeypatch.setattr(app_commands.CommandTree, "sync", sync)
    monkeypatch.setattr(discord_bot.RigshareBot, "start", start)
    monkeypatch.setattr(discord_bot, "DISCORD_LIMITS", SendLimits(1000.0, 0.0))  # no pacing
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    await discord_bot.run_discord(app, "t0ken", test_guild_id=77)
    assert seen == {"token": "t0ken", "synced": 77}
    assert any("ssh -p" in (v.content or "") for v in transcript.seen("dm"))


async def test_a_refused_token_stops_only_discord(app, monkeypatch, capsys):
    async def refuse(app, token, *, test_guild_id=None):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord_bot, "run_discord", refuse)
    app.settings.discord_token = SecretStr("not-a-token")
    await serve._discord(app)
    assert "discord: stopped (LoginFailure" in capsys.readouterr().out
