"""/board: admins post a public GPU board; a task keeps it current, also after a restart."""

from __future__ import annotations

import discord

from bot.discord.board import KEY, Board
from bot.discord.bot import RigshareBot
from tests.bot.discord.fakes import FakeUser
from tests.bot.discord.support import slash
from tests.support import add_provider

ADMIN = discord.Permissions(manage_guild=True)


async def resolve_in(*channels):
    by_id = {c.id: c for c in channels}

    async def resolve(channel_id: int):
        if channel_id not in by_id:
            raise discord.NotFound(
                type("R", (), {"status": 404, "reason": "Not Found"})(), "Unknown Channel"
            )
        return by_id[channel_id]

    return resolve


async def test_only_admins_post_and_the_board_is_public(bot, app, server, alice, transcript):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    await slash(bot, "board", server.interaction(alice))  # no Manage Server permission
    assert transcript.last().audience == "ephemeral" and "manage" in transcript.last().content
    assert transcript.seen("public") == []

    await slash(bot, "board", server.interaction(alice, permissions=ADMIN))
    public = [m for m in transcript.messages if m.audience == "public"]
    assert len(public) == 1 and "RTX 4090" in public[0].content and "<t:" in public[0].content
    assert "Pin it" in transcript.last("ephemeral").content
    assert str(public[0].id) in await app.kv.get(KEY)


async def test_board_refreshes_survives_restart_and_forgets_deleted(
    bot, app, clock, server, transcript
):
    admin = FakeUser(transcript, "admin")
    await slash(
        bot,
        "board",
        server.interaction(admin, permissions=ADMIN, guild_locale=discord.Locale.german),
    )
    (board,) = [m for m in transcript.messages if m.audience == "public"]
    assert "Gerade passt keine GPU" in board.content  # the server's language, empty market

    await add_provider(app, "prov", ["h100"], 2_000_000)
    clock.advance(60)
    async with RigshareBot(app, sync=False) as restarted:  # a new process: ids from the table
        edited = await Board(restarted.front).refresh(await resolve_in(server.channel))
    assert edited == 1 and "H100" in board.content and f"<t:{clock.now()}:R>" in board.content

    board.deleted = True
    assert await Board(bot.front).refresh(await resolve_in(server.channel)) == 0
    assert await Board(bot.front).records() == []


async def test_board_whose_channel_is_gone_is_forgotten(bot, app, server, transcript):
    admin = FakeUser(transcript, "admin")
    await slash(bot, "board", server.interaction(admin, permissions=ADMIN))
    assert len(await Board(bot.front).records()) == 1
    assert await Board(bot.front).refresh(await resolve_in()) == 0
    assert await Board(bot.front).records() == []


async def test_a_second_board_in_a_channel_replaces_the_first(bot, app, server, transcript):
    admin = FakeUser(transcript, "admin")
    for _ in range(2):
        await slash(bot, "board", server.interaction(admin, permissions=ADMIN))
    (record,) = await Board(bot.front).records()
    assert record["message"] == [m for m in transcript.messages if m.audience == "public"][-1].id


async def test_a_channel_the_bot_may_not_write_in_gets_a_clear_answer(
    bot, app, server, transcript, monkeypatch
):
    async def refuse(*args, **kwargs):
        raise discord.Forbidden(
            type("R", (), {"status": 403, "reason": "Forbidden"})(), "Missing Access"
        )

    monkeypatch.setattr(server.channel, "send", refuse)
    await slash(bot, "board", server.interaction(FakeUser(transcript, "admin"), permissions=ADMIN))
    assert "Send Messages" in transcript.last().content and transcript.seen("public") == []
    assert await Board(bot.front).records() == []
