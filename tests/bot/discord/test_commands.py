"""Slash commands: registration (same names and options as the grammar), DM-only provider
commands, language from the Discord client, ephemeral answers in servers."""

from __future__ import annotations

import re

import discord
import pytest
from sqlalchemy import select

from bot.discord.bot import RigshareBot
from core.db import tables
from core.grammar import COMMANDS, PROVIDER_COMMANDS
from core.grammar.registry import BY_NAME
from tests.bot.discord.fakes import FakeUser
from tests.bot.discord.support import approve_all, cog_command, principal_of, slash
from tests.support import add_provider

OPTIONS = {
    "start": [], "help": ["topic"],
    "gpus": ["gpu", "max_price", "region", "min_vram", "min_reliability", "verified", "sort", "page",
             "min_ram", "min_disk", "min_cpu", "min_cuda"],
    "rent": ["gpu", "duration", "max_price", "region", "count", "template", "image", "ports",
             "disk"],
    "templates": ["gpu"],
    "status": ["rental"], "extend": ["duration", "rental"], "stop": ["rental"],
    "receipts": ["csv"], "dispute": ["reason", "rental"], "rate": ["stars", "rental", "comment"],
    "connect": ["action"], "sshkey": ["key"], "lang": ["lang"],
    "register": ["payout_address"], "addmachine": ["machine", "region"], "machines": [],
    "price": ["machine", "price", "gpu"], "pause": ["machine"], "resume": ["machine"],
    "earnings": [], "cancel": [], "removemachine": ["machine", "confirm"],
    "rotatetoken": ["machine"],
}  # fmt: skip


def test_every_grammar_command_is_a_slash_command_with_its_options(bot):
    registered = {c.name for c in bot.tree.get_commands()}
    assert registered == set(COMMANDS) | {"board"}
    for name, options in OPTIONS.items():
        assert [p.name for p in cog_command(bot, name).parameters] == options, name
    autocompleted = {
        (name, p.name)
        for name in COMMANDS
        for p in cog_command(bot, name).parameters
        if p.autocomplete
    }
    assert {
        ("rent", "gpu"),
        ("rent", "duration"),
        ("gpus", "gpu"),
        ("extend", "duration"),
    } <= autocompleted
    assert {
        ("status", "rental"),
        ("extend", "rental"),
        ("stop", "rental"),
        ("rate", "rental"),
    } <= autocompleted
    board = cog_command(bot, "board")
    assert board.default_permissions.manage_guild and board.guild_only


async def test_setup_hook_syncs_to_the_test_server_or_globally(app, monkeypatch):
    calls = []

    async def sync(*, guild=None):
        calls.append(guild.id if guild else None)
        return []

    for guild_id in (4242, None):
        async with RigshareBot(app, test_guild_id=guild_id) as client:
            monkeypatch.setattr(client.tree, "sync", sync)
            await client.setup_hook()
            if guild_id:  # commands copied to the server so they show at once
                assert {
                    c.name for c in client.tree.get_commands(guild=discord.Object(guild_id))
                } >= {"rent"}
    assert calls == [4242, None]


@pytest.mark.parametrize("name", PROVIDER_COMMANDS)
async def test_provider_commands_in_a_server_say_dm_only_and_change_nothing(
    bot, app, server, alice, transcript, name
):
    options = {"addmachine": {"machine": "box1"}, "price": {"machine": "box1", "price": "0.65"}}
    options |= {"removemachine": {"machine": "box1"}, "rotatetoken": {"machine": "box1"}}
    options["register"] = {"payout_address": "0x" + "ab" * 20}
    await slash(bot, name, server.interaction(alice), **options.get(name, {}))
    answer = transcript.last()
    assert answer.audience == "ephemeral"
    assert "direct message" in answer.content and f"/{name}" in answer.content
    async with app.uow(readonly=True) as uow:
        assert (await uow.session.execute(select(tables.providers))).all() == []
        assert (await uow.session.execute(select(tables.machines))).all() == []


async def test_provider_flow_in_dm_shows_the_agent_token_there(bot, app, dm, alice, transcript):
    address = app.wallet.address_of((await principal_of(bot, alice)).user_id)
    await slash(bot, "register", dm.interaction(alice), payout_address=address)
    await approve_all(app)  # the payout wallet proves itself where that is a step
    await slash(bot, "addmachine", dm.interaction(alice), machine="box1", region="eu")
    token_message = transcript.last()
    assert token_message.audience == "dm" and "rigshare-agent" in token_message.content
    await slash(bot, "machines", dm.interaction(alice))
    assert "box1" in transcript.last().content
    await slash(bot, "pause", dm.interaction(alice), machine="box1")
    await slash(bot, "earnings", dm.interaction(alice))
    assert transcript.last().audience == "dm"
    assert transcript.seen("public") == transcript.seen("ephemeral") == []


async def test_german_discord_client_gets_german_until_lang_changes_it(
    bot, app, server, transcript
):
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    jonas = FakeUser(transcript, "jonas")
    await slash(bot, "gpus", server.interaction(jonas, locale=discord.Locale.german))
    assert "Freie GPUs" in transcript.last().content
    await slash(bot, "lang", server.interaction(jonas, locale=discord.Locale.german), lang="en")
    await slash(bot, "gpus", server.interaction(jonas, locale=discord.Locale.german))
    assert "Freie GPUs" not in transcript.last().content
    assert (await principal_of(bot, jonas)).lang == "en"


async def test_grammar_errors_come_back_ephemeral_with_the_grammars_words(
    bot, app, server, alice, transcript
):
    await slash(bot, "rent", server.interaction(alice), gpu="4900", duration="3h")
    answer = transcript.last()
    assert answer.audience == "ephemeral" and "Unknown GPU" in answer.content
    await slash(bot, "extend", server.interaction(alice), duration="0h")
    assert "too short" in transcript.last().content


async def test_long_help_is_split_and_markdown_is_escaped(bot, app, dm, alice, transcript):
    before = len(transcript.messages)
    await slash(bot, "help", dm.interaction(alice))
    parts = [m.versions[-1].content or "" for m in transcript.messages[before:]]
    text = "\n".join(parts)
    assert len(parts) > 1 and all(len(part) <= 2000 for part in parts)
    assert "/rent" in text and "/rotatetoken" in text
    assert "\\|" in text  # "en|de" would otherwise start a spoiler tag


async def test_descriptions_fit_discord_and_german_clients_get_german(bot):
    from bot.discord.translate import CatalogueTranslator

    translator = CatalogueTranslator()
    for command in bot.tree.get_commands():
        payload = await command.get_translated_payload(bot.tree, translator)
        assert 1 <= len(payload["description"]) <= 100, command.name
        german = payload.get("description_localizations", {})
        assert set(german) == {"de"} and german["de"] != payload["description"], command.name
        for option in payload.get("options", []):
            assert 1 <= len(option["description"]) <= 100, (command.name, option["name"])
            assert set(option.get("description_localizations", {})) == {"de"}, (
                command.name,
                option["name"],
            )
        german_name = BY_NAME[command.name].de_name if command.name in BY_NAME else ""
        named = payload.get("name_localizations") or {}
        assert named == ({"de": german_name} if german_name else {}), command.name
    shown = []
    for command in bot.tree.get_commands():
        payload = await command.get_translated_payload(bot.tree, translator)
        shown.append((payload.get("name_localizations") or {}).get("de", command.name))
    assert len(set(shown)) == len(shown)  # a German client sees no name twice
    assert {"mieten", "hilfe", "verlaengern", "preis"} <= set(shown) and "rent" not in shown
    assert all(re.fullmatch(r"[a-z0-9_-]{1,32}", name) for name in shown)  # Discord's name rule


async def test_an_unexpected_failure_gets_a_reference_and_a_log_entry(
    bot, app, server, alice, transcript, monkeypatch, caplog
):
    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(app.users, "identify", broken)
    await slash(bot, "gpus", server.interaction(alice))
    answer = transcript.last()
    assert answer.audience == "ephemeral" and "reference" in answer.content
    assert "fire" not in answer.content
    ref = answer.content.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


async def test_a_user_over_the_rate_limit_gets_one_short_note_and_nothing_runs(
    bot, app, server, alice, transcript, monkeypatch
):
    from bot.common.ratelimit import MemoryRateLimiter

    now = [0.0]
    bot.front.limiter = MemoryRateLimiter(1.0, 3, monotonic=lambda: now[0])
    calls = []
    original = bot.front.dispatcher.handle_options

    async def counted(who, name, values):
        calls.append(name)
        return await original(who, name, values)

    monkeypatch.setattr(bot.front.dispatcher, "handle_options", counted)
    for _ in range(5):
        await slash(bot, "gpus", server.interaction(alice))
    assert len(calls) == 3 and bot.front.dropped == 2
    assert transcript.last().content == "Slow down a little — try again in a few seconds."
    assert transcript.last().audience == "ephemeral"
    now[0] += 2.0  # the bucket refills
    await slash(bot, "gpus", server.interaction(alice))
    assert len(calls) == 4
