"""Group safety: whatever is typed in a server channel, nothing private is ever public.

The whole parity conversation (every command, good and bad input, a rental from quote to
receipt, provider commands) is played in a Discord server channel, the outbox is delivered
by the DiscordNotifier, and an admin posts the public /gpus board. Then: every message a
server can see (a non-ephemeral guild message) is free of credentials, private keys, agent
tokens and wallet details, and carries no files; every Reply marked private was shown only
in the user's DMs or ephemerally. Played for a user who takes DMs and for one who blocks them.

The same conversation is played in a Telegram group through bot/telegram (aiogram's real
Dispatcher with a recording Bot API session): nothing private is ever sent to the group.
"""

from __future__ import annotations

import asyncio
import re

import discord
import pytest

from bot.common.dispatch import Reply
from bot.common.outbox import OutboxSender, SendLimits
from bot.discord import deliver
from bot.discord.bot import RigshareBot
from tests.bot.discord.fakes import FakeChannel, FakeGuild, FakeUser, Place, Transcript, press
from tests.bot.discord.support import approve_all, slash
from tests.bot.test_parity import CONVERSATION, fresh_app, link_wallet_if_needed

SECRETS = {
    "wallet address": re.compile(r"0x[0-9a-fA-F]{40}"),
    "signing link": re.compile(r"/sign/"),
    "WalletConnect pairing": re.compile(r"wc:[0-9a-f]{8}|wc%3A", re.IGNORECASE),
    "agent token": re.compile(r"--token|rigshare-agent"),
    "private key": re.compile(r"PRIVATE KEY|BEGIN OPENSSH"),
    "SSH login": re.compile(r"ssh -p|rs-\d+@|Host key|SHA256:"),
    "SSH public key": re.compile(r"ssh-ed25519 AAAA"),
    "Jupyter token": re.compile(r"token=|lab\?|ssh -N -L"),
}


def leaks(text: str) -> list[str]:
    return [name for name, pattern in SECRETS.items() if pattern.search(text)]


async def play_in_server(tmp_path, *, takes_dms: bool):
    app = await fresh_app(tmp_path, "server")
    transcript = Transcript()
    user = FakeUser(transcript, "alice", takes_dms=takes_dms)
    admin = FakeUser(transcript, "admin")
    guild = FakeGuild()
    server = Place(transcript, None, guild, FakeChannel(transcript, guild))
    private_replies: list[Reply] = []
    try:
        async with RigshareBot(app, sync=False) as bot:
            await bot.setup_hook()
            server.client = bot
            for method in ("handle_text", "handle_options", "handle_action"):
                original = getattr(bot.front.dispatcher, method)

                async def recorded(who, *args, _original=original):
                    reply = await _original(who, *args)
                    if reply.private:
                        private_replies.append(reply)
                    return reply

                setattr(bot.front.dispatcher, method, recorded)
            bot.front.status.every_s = 3600
            who = await app.users.identify("discord", str(user.id), "Alice", chat_id=str(user.id))
            await link_wallet_if_needed(app, who)
            last = None
            for step in CONVERSATION:
                app.clock.advance(step.advance)
                count = len(transcript.messages)
                if step.press:
                    await press(bot, last, step.press, user)
                else:
                    await slash(bot, step.command, server.interaction(user), **step.options)
                if step.approve:
                    await approve_all(app)
                new = transcript.messages[count:]
                last = new[-1] if new and new[-1].view is not None else last
            # the outbox (payment seen, private key, credentials, receipts) through Discord
            bot.get_user = {user.id: user, admin.id: admin}.get
            sender = OutboxSender(
                app.notifications,
                bot.notifier,
                limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
                sleep=lambda _: asyncio.sleep(0),
            )
            await sender.run_once()
            in_server = list(private_replies)
            # in their own DM the same provider command does show a token: only the place
            # kept it out of the server
            dm = Place(transcript, bot)
            await slash(bot, "register", dm.interaction(user))
            await approve_all(app)
            await slash(bot, "addmachine", dm.interaction(user), machine="box9")
            admin_perms = discord.Permissions(manage_guild=True)
            await slash(bot, "board", server.interaction(admin, permissions=admin_perms))
            delivered_by_dm = sender.sent
    finally:
        await app.close()
    return transcript, private_replies, in_server, delivered_by_dm


@pytest.mark.parametrize("takes_dms", [True, False], ids=["dms-open", "dms-blocked"])
async def test_nothing_private_is_ever_a_public_server_message(tmp_path, takes_dms):
    transcript, private_replies, in_server, delivered = await play_in_server(
        tmp_path, takes_dms=takes_dms
    )

    public = [m for m in transcript.messages if m.audience == "public"]
    assert len(public) == 1 and "RTX 4090" in public[0].content  # the /board, nothing else
    for message in public:
        for version in message.versions:
            assert leaks(version.content or "") == [], version.content
            assert version.files == []

    # the test can fail: the conversation really produced every kind of secret somewhere
    everything = " ".join(
        v.content or "" for m in transcript.messages for v in m.versions
    ) + " ".join(r.text for r in private_replies)
    assert {"wallet address", "signing link", "agent token"} <= set(leaks(everything))
    assert len(private_replies) >= 8

    # each private reply to a server command was shown in the user's DMs or ephemerally
    assert len(in_server) >= 6
    for reply in in_server:
        shown = deliver.chunks(reply.text)[0]
        places = {
            m.audience
            for m in transcript.messages
            for v in m.versions
            if v.content and (v.content == shown or v.content.startswith(shown))
        }
        assert "public" not in places
        if takes_dms:
            assert places <= {"dm"}, (reply.core_call, places)
        else:
            assert places <= {"ephemeral"}, (reply.core_call, places)

    if takes_dms:  # credentials (for the renter's own /sshkey) and receipts arrived by DM
        dm_text = " ".join(v.content or "" for v in transcript.seen("dm"))
        assert "ssh -p" in dm_text and "ended" in dm_text and delivered >= 4
    else:  # nothing could be delivered; the notifier left it for a retry, not elsewhere
        assert delivered == 0 or transcript.seen("dm") == []


async def test_nothing_private_is_ever_sent_to_a_telegram_group(tmp_path):
    """The same conversation typed in a Telegram group (bot/telegram through aiogram's
    Dispatcher and a recording Bot API session), buttons pressed there, outbox delivered."""
    from tests.bot.telegram.fake_telegram import TOKEN
    from tests.bot.telegram.support import ALICE, GROUP, Harness

    app = await fresh_app(tmp_path, "telegram", telegram_token=TOKEN)
    tg = Harness(app)
    await tg.start()
    try:
        who = await app.users.identify("telegram", str(ALICE.id), "Alice", chat_id=str(ALICE.id))
        await link_wallet_if_needed(app, who)
        last = None
        for step in CONVERSATION:
            app.clock.advance(step.advance)
            if step.press:
                calls = await tg.press(ALICE, last, step.press)
            else:
                calls = await tg.send(ALICE, step.line, chat_id=GROUP)
            if step.approve:
                await approve_all(app)
            shown = [c for c in calls if c.result and c.buttons()]
            last = shown[-1] if shown else last
        await tg.deliver()
    finally:
        await tg.close()
        await app.close()

    group = tg.telegram.sent(chat_id=GROUP)
    assert len(group) >= 30  # the conversation really happened in the group
    for call in group:
        assert leaks(call.content()) == [], call.content()
        assert call.files == {} or all(
            not name.endswith((".key", ".csv")) for name, _ in call.files.values()
        )
    private = " ".join(c.content() for c in tg.telegram.sent(chat_id=ALICE.id))
    assert {"wallet address", "signing link", "SSH login"} <= set(leaks(private))
