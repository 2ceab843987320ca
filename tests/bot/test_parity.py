"""Parity: the same input gives the same core call and the same text on every front end.

One conversation (every command, good and bad input, then a whole rental with button
presses) is played on each front end against its own application built the same way (same
seeded market, same clock), in the user's private chat: typed lines in the terminal
(bot/terminal/chat.py), slash commands with options in Discord (through their callbacks),
messages and button presses in Telegram (aiogram's real Dispatcher fed updates, with a
recording Bot API session). Each step must reach the same grammar command and core call and
produce the same Reply text, buttons and flags before platform formatting; what Discord
shows must be that text, formatted.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.bootstrap import build_app
from bot.common.dispatch import Reply
from bot.discord import deliver
from bot.discord.bot import RigshareBot
from bot.settings import Settings
from bot.terminal.chat import TerminalChat
from core.grammar.registry import BY_NAME
from tests.bot.discord.fakes import FakeInteraction, FakeUser, Transcript, press
from tests.bot.discord.support import approve_all, slash
from tests.fakes.clock import FakeClock
from tests.support import add_provider

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBy4dbvkVzRkpOwq8B7Q9XNFx+rEiUrAGsZXcCk1+zLG me@laptop"
ADDRESS = "0x" + "ab" * 20


@dataclass(frozen=True)
class Step:
    line: str  # what a chat user types
    command: str = ""  # the slash command, when it is not a button press
    options: dict = field(default_factory=dict)
    press: str = ""  # a button label on the last reply instead of a command
    approve: bool = False  # the renter approves everything in the wallet afterwards
    advance: int = 0  # seconds that pass before the step


def s(line: str, **options) -> Step:
    return Step(line, line.split()[0].removeprefix("/"), options)


CONVERSATION = [
    s("/start"),
    s("/help"),
    s("/help rent", topic="rent"),
    s("/help frobnicate", topic="frobnicate"),
    s("/gpus"),
    s("/gpus 4090 max=1.00 region=eu", gpu="4090", max_price="1.00", region="eu"),
    s("/gpus vram>=48 rel>=50 verified sort=vram page=1", min_vram=48, min_reliability=50,
      verified=True, sort="vram", page=1),
    s("/gpus page=2", page=2),
    s("/gpus max=$abc", max_price="$abc"),
    s("/gpus voodoo9000", gpu="voodoo9000"),
    s("/rent 4900 3h", gpu="4900", duration="3h"),
    s("/rent 4090 0h", gpu="4090", duration="0h"),
    s("/rent 4090 -3h", gpu="4090", duration="-3h"),
    s("/rent 4090 2h max=0.10", gpu="4090", duration="2h", max_price="0.10"),
    s("/rent h100 1d region=us count=2", gpu="h100", duration="1d", region="us", count=2),
    s("/rent a100 2h", gpu="a100", duration="2h"),
    s("/status"),
    s("/status 12abc", rental="12abc"),
    s("/extend 2h", duration="2h"),
    s("/extend 0h", duration="0h"),
    s("/stop"),
    s("/stop #999999", rental="#999999"),
    s("/dispute gpu vanished", reason="gpu vanished"),
    s("/dispute 99 broke", reason="broke", rental="99"),
    s("/rate 5", stars=5),
    s("/receipts"),
    s("/receipts csv", csv=True),
    s("/connect"),
    s("/sshkey"),
    s("/sshkey " + KEY, key=KEY),
    s("/sshkey ssh-ed25519 not-base64!!", key="ssh-ed25519 not-base64!!"),
    s("/sshkey -----BEGIN OPENSSH PRIVATE KEY-----", key="-----BEGIN OPENSSH PRIVATE KEY-----"),
    s("/lang"),
    s("/lang de", lang="de"),
    s("/gpus 4090", gpu="4090"),
    s("/rent 4900 3h", gpu="4900", duration="3h"),
    s("/lang en", lang="en"),
    s("/register 0xnothex", payout_address="0xnothex"),
    Step("/register", "register", approve=True),
    s("/addmachine box1 region=eu", machine="box1", region="eu"),
    s("/addmachine my box", machine="my box"),
    s("/machines"),
    s("/price box1 0.65", machine="box1", price="0.65"),
    s("/price box1 -1", machine="box1", price="-1"),
    s("/price box1 rtx4090 0.70", machine="box1", price="0.70", gpu="rtx4090"),
    s("/pause"),
    s("/resume box1", machine="box1"),
    s("/earnings"),
    # a whole rental, with button presses
    s("/rent 4090 3h region=eu", gpu="4090", duration="3h", region="eu"),
    Step("Cheaper", press="Cheaper"),
    Step("Cancel", press="Cancel"),
    s("/rent 4090 3h", gpu="4090", duration="3h"),
    Step("Confirm", press="Confirm", approve=True),
    s("/status"),
    Step("/status 4", "status", {"rental": "4"}, advance=1800),
    Step("/extend 1h", "extend", {"duration": "1h"}, approve=True),
    Step("/stop 4", "stop", {"rental": "4"}, approve=True, advance=600),
    s("/rate 4 5 fast box", stars=5, rental="4", comment="fast box"),
    s("/rate 4 4", stars=4, rental="4"),
    s("/receipts"),
    s("/dispute 4 it rebooted", reason="it rebooted", rental="4"),
    # instances: templates, machine filters, a listing by number, images, ports, disk
    s("/templates"),
    s("/templates 4090", gpu="4090"),
    s("/templates #3", gpu="#3"),
    s("/templates voodoo9000", gpu="voodoo9000"),
    s("/gpus ram>=64 disk>=200 cuda>=12.4 cpu>=8", min_ram=64, min_disk=200, min_cuda="12.4",
      min_cpu=8),
    s("/gpus disk>=90000", min_disk=90000),
    s("/gpus cuda>=twelve", min_cuda="twelve"),
    s("/rent #3 1d count=2", gpu="#3", duration="1d", count=2),
    s("/rent #3 1d count=3", gpu="#3", duration="1d", count=3),
    s("/rent #999 1d", gpu="#999", duration="1d"),
    s("/rent h100 #1 1d", gpu="h100 #1", duration="1d"),
    s("/rent 4090 3h image=pytorch", gpu="4090", duration="3h", image="pytorch"),
    s("/rent 4090 3h image=ghcr.io/me/train:v2", gpu="4090", duration="3h",
      image="ghcr.io/me/train:v2"),
    s("/rent 4090 3h image=quay.io/me/train:v2", gpu="4090", duration="3h",
      image="quay.io/me/train:v2"),
    s("/rent 4090 3h image=Not/An/Image", gpu="4090", duration="3h", image="Not/An/Image"),
    s("/rent 4090 3h template=nope", gpu="4090", duration="3h", template="nope"),
    s("/rent #1 3h template=nope", gpu="#1", duration="3h", template="nope"),
    s("/rent 4090 3h ports=22", gpu="4090", duration="3h", ports="22"),
    s("/rent 4090 3h ports=80,80", gpu="4090", duration="3h", ports="80,80"),
    s("/rent 4090 3h ports=1,2,3,4,5", gpu="4090", duration="3h", ports="1,2,3,4,5"),
    s("/rent 4090 3h disk=0", gpu="4090", duration="3h", disk=0),
    s("/rent 4090 3h disk=5000", gpu="4090", duration="3h", disk=5000),
    s("/rent 9x h100 1d", gpu="h100", duration="1d", count=9),
    s("/rent 4090 2h template=jupyter ports=8080,6006 disk=200", gpu="4090", duration="2h",
      template="jupyter", ports="8080,6006", disk=200),
    Step("Confirm", press="Confirm", approve=True),
    s("/status"),
    # aliases, /cancel, the provider's new token, removal (asked to confirm, then confirmed)
    Step("/mieten 4090 3h", "rent", {"gpu": "4090", "duration": "3h"}),
    s("/cancel"),
    s("/cancel"),
    Step("/hilfe rent", "help", {"topic": "rent"}),
    s("/rotatetoken box1", machine="box1"),
    s("/removemachine box1", machine="box1"),
    s("/removemachine box1 confirm", machine="box1", confirm=True),
]  # fmt: skip

_MASKS = (
    (re.compile(r"/sign/[A-Za-z0-9_-]+"), "/sign/<token>"),
    (re.compile(r"wc:[0-9a-f]+@2\?\S*"), "wc:<pairing>"),
    (re.compile(r"RIGSHARE_AGENT_TOKEN=\S+"), "RIGSHARE_AGENT_TOKEN=<token>"),
    (re.compile(r"uri=\S+"), "uri=<pairing>"),
)


def mask(text: str) -> str:
    """Random one-time tokens (signing links, pairings, agent tokens) differ by design."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def fingerprint(reply: Reply, commands: list) -> tuple:
    """What must match: the parsed grammar commands that reached the dispatcher, the core
    call, and the reply before platform formatting."""
    buttons = tuple((b.label, mask(b.action)) for b in reply.buttons)
    files = tuple(name for name, _ in reply.files)
    return (
        tuple(commands), reply.core_call, mask(reply.text), buttons, files, reply.private,
        reply.error,
    )  # fmt: skip


def record_commands(dispatcher) -> list:
    """Every grammar Command the dispatcher is asked to answer, in order."""
    seen: list = []
    original = dispatcher.handle

    async def handle(who, cmd):
        seen.append(cmd)
        return await original(who, cmd)

    dispatcher.handle = handle
    return seen


def record_replies(dispatcher, methods: tuple[str, ...]) -> list[Reply]:
    """Every Reply the dispatcher's ``methods`` (handle_text, handle_action...) return."""
    replies: list[Reply] = []
    for method in methods:
        original = getattr(dispatcher, method)

        async def recorded(who, *args, _original=original):
            reply = await _original(who, *args)
            replies.append(reply)
            return reply

        setattr(dispatcher, method, recorded)
    return replies


async def fresh_app(tmp_path, name: str, **more):
    settings = Settings(
        _env_file=None,
        chain="fake",
        database_url=f"sqlite:///{tmp_path}/{name}.sqlite3",
        discord_rate_per_s=1000.0,  # a conversation typed faster than any person
        discord_rate_burst=1000,
        **more,
    )
    app = build_app(settings, clock=FakeClock())
    await app.start()
    for provider, gpus, price, region in (
        ("prov", ["rtx4090"], 650_000, "eu"),
        ("alt", ["rtx4090"], 600_000, "us"),
        ("big", ["h100", "h100"], 2_000_000, "us"),
    ):
        await add_provider(app, provider, gpus, price, region=region)
    return app


async def link_wallet_if_needed(app, who) -> None:
    try:
        from tests.support import link_wallet
    except ImportError:  # wallets that are connected from the start
        return
    await link_wallet(app, who)


@asynccontextmanager
async def discord_alice(tmp_path, name: str = "discord"):
    """A fresh app's Discord bot, set up, and Alice (a FakeUser whose messages and DMs go to
    the transcript), as ``(app, bot, transcript, alice)``; the app is closed afterwards."""
    app = await fresh_app(tmp_path, name)
    transcript = Transcript()
    alice = FakeUser(transcript, "alice")
    try:
        async with RigshareBot(app, sync=False) as bot:
            await bot.setup_hook()
            yield app, bot, transcript, alice
    finally:
        await app.close()


async def alice_of(app, platform: str, user_id: int) -> None:
    """Alice as the platform names her, her wallet linked where that is asked for."""
    who = await app.users.identify(platform, str(user_id), "Alice", chat_id=str(user_id))
    await link_wallet_if_needed(app, who)


async def terminal_alice(app) -> tuple[TerminalChat, list]:
    """Alice's terminal chat (wallet linked) and the grammar commands it is asked to answer."""
    chat = TerminalChat(app, out=lambda _: None)
    commands = record_commands(chat.dispatcher)
    await link_wallet_if_needed(app, await chat.principal("alice"))
    return chat, commands


async def play_terminal(tmp_path) -> list[tuple]:
    app = await fresh_app(tmp_path, "terminal")
    try:
        chat, commands = await terminal_alice(app)
        out = []
        for step in CONVERSATION:
            app.clock.advance(step.advance)
            del commands[:]
            reply = await chat.say("alice", step.line)
            if step.approve:
                await approve_all(app)
            out.append(fingerprint(reply, commands))
        return out
    finally:
        await app.close()


async def play_discord(tmp_path) -> tuple[list[tuple], list[tuple[Reply, str]]]:
    async with discord_alice(tmp_path) as (app, bot, transcript, alice):
        methods = ("handle_text", "handle_options", "handle_action")
        replies = record_replies(bot.front.dispatcher, methods)
        commands = record_commands(bot.front.dispatcher)
        await alice_of(app, "discord", alice.id)
        out, shown, last = [], [], None
        for step in CONVERSATION:
            app.clock.advance(step.advance)
            bot.front.status.every_s = 3600  # live /status edits are tested elsewhere
            before = len(replies)
            del commands[:]
            if step.press:
                await press(bot, last, step.press, alice)
            else:
                interaction = FakeInteraction(bot, alice, transcript=transcript)  # in DM
                await slash(bot, step.command, interaction, **step.options)
            assert len(replies) == before + 1, step
            if step.approve:
                await approve_all(app)
            reply = replies[-1]
            last = _message_of(transcript, reply)
            out.append(fingerprint(reply, commands))
            shown.append((reply, last.content if last else ""))
        return out, shown


def _message_of(transcript: Transcript, reply: Reply):
    """The DM message that shows ``reply`` (the last one edited or sent)."""
    for message in reversed(transcript.messages):
        if message.versions and deliver.chunks(reply.text)[0] == message.versions[-1].content:
            return message
    return None


async def play_telegram(tmp_path) -> list[tuple]:
    """The conversation through aiogram's real Dispatcher (bot/telegram), fed updates as
    Telegram sends them, with H3's recording Bot API session."""
    from tests.bot.telegram.fake_telegram import TOKEN
    from tests.bot.telegram.support import ALICE, Harness

    app = await fresh_app(tmp_path, "telegram", telegram_token=TOKEN)
    tg = Harness(app)
    await tg.start()
    try:
        replies = record_replies(tg.front.rig, ("handle_text", "handle_command", "handle_action"))
        commands = record_commands(tg.front.rig)
        await alice_of(app, "telegram", ALICE.id)
        out, last = [], None
        for step in CONVERSATION:
            app.clock.advance(step.advance)
            del commands[:]
            before = len(replies)
            if step.press:
                calls = await tg.press(ALICE, last, step.press)
            else:
                calls = await tg.send(ALICE, step.line)
            assert len(replies) == before + 1, (step, [c.text for c in calls])
            if step.approve:
                await approve_all(app)
            shown = [c for c in calls if c.result and c.buttons()]
            last = shown[-1] if shown else last
            out.append(fingerprint(replies[-1], commands))
        return out
    finally:
        await tg.close()
        await app.close()


async def test_terminal_discord_and_telegram_give_the_same_core_calls_and_texts(tmp_path):
    terminal = await play_terminal(tmp_path)
    discord_steps, shown = await play_discord(tmp_path)
    telegram = await play_telegram(tmp_path)
    for step, term, disc, tele in zip(CONVERSATION, terminal, discord_steps, telegram, strict=True):
        assert disc == term, f"{step.line!r}: terminal {term} != discord {disc}"
        assert tele == term, f"{step.line!r}: terminal {term} != telegram {tele}"
    # the table covers every command, good and bad input, and real core calls
    calls = {f[1] for f in terminal}
    assert {"market.search", "market.quote", "market.cheaper", "rentals.cancel_quote"} <= calls
    assert {"rentals.confirm", "rentals.status", "rentals.extend", "rentals.stop"} <= calls
    assert {"rentals.rate", "receipts.list", "users.set_ssh_key", "users.set_lang"} <= calls
    assert "market.templates" in calls
    assert {"providers.rotate_token", "providers.remove_machine"} <= calls
    assert sum(f[-1] for f in terminal) >= 15 and sum(not f[-1] for f in terminal) >= 20
    # what Discord showed is the reply's text, only formatted for Discord
    for reply, content in shown:
        assert content == deliver.chunks(reply.text)[0], reply.text


async def test_every_registry_command_and_alias_exists_on_every_front_end(tmp_path):
    """The grammar accepts every name and alias; the Telegram routers answer each; the
    Telegram menu lists the names (with both catalogues' lines); Discord has each name as a
    slash command with the registry's options; /help lists all of them, in both languages."""
    from aiogram.filters import Command

    from bot.common.dispatch import Dispatcher
    from bot.common.help import help_text
    from bot.telegram import menu
    from bot.telegram.routers import routers
    from core import grammar as g
    from core.errors import GrammarError
    from core.grammar.registry import SPECS

    words = {word: spec.name for spec in SPECS for word in spec.words}
    for word, name in words.items():
        assert g.command_name(word) == name
        try:
            assert g.parse(f"/{word}").name == name
        except GrammarError as exc:  # an argument is missing: never "unknown command"
            assert exc.key not in ("grammar.unknown", "grammar.unknown_close"), word
    telegram = {
        command
        for router in routers()
        for handler in router.message.handlers
        for f in handler.filters or ()
        if isinstance(f.callback, Command)
        for command in f.callback.commands
    }
    assert set(words) - {"start"} <= telegram  # /start: aiogram's CommandStart
    for lang in ("en", "de"):
        listed = menu.commands(lang, private=True)
        assert [c.command for c in listed] == [spec.name for spec in SPECS]
        assert all(1 <= len(c.description) <= 256 for c in listed)
        overview = help_text(lang, None)
        assert all(f"/{word}" in overview for word in words), lang
    app = await fresh_app(tmp_path, "registry")
    try:
        async with RigshareBot(app, sync=False) as bot:
            await bot.setup_hook()
            slashes = {c.name: c for c in bot.tree.get_commands()}
            assert set(slashes) == {spec.name for spec in SPECS} | {"board"}
            for spec in SPECS:
                params = {p.name: p for p in slashes[spec.name].parameters}
                assert set(params) == {o.name for o in spec.options}, spec.name
                for o in spec.options:
                    assert params[o.name].required == o.required, (spec.name, o.name)
                    if o.kind == "int":
                        assert (params[o.name].min_value, params[o.name].max_value) == (
                            o.low,
                            o.high,
                        )
                    if o.kind == "choice":
                        assert [c.value for c in params[o.name].choices] == list(o.choices)
        who = await app.users.identify("terminal", "zed", "zed")
        for word, name in words.items():  # /help on an alias explains the command
            reply = await Dispatcher(app).handle_text(who, f"/help {word}")
            assert not reply.error and BY_NAME[name].usage in reply.text, word
    finally:
        await app.close()


async def test_german_aliases_work_on_telegram_and_the_terminal(tmp_path):
    from tests.bot.telegram.fake_telegram import TOKEN
    from tests.bot.telegram.support import ALICE, Harness

    app = await fresh_app(tmp_path, "aliases", telegram_token=TOKEN)
    tg = Harness(app)
    await tg.start()
    try:
        chat = TerminalChat(app, out=lambda _: None)
        for line, fragment in (("/mieten 4090 3h", "Quote #"), ("/miete", "Which GPU")):
            said = await chat.say("alice", line)
            assert fragment in said.text, (line, said.text)
            texts = [c.text for c in await tg.send(ALICE, line) if c.text]
            assert any(fragment in text for text in texts), (line, texts)
            assert not any("Unknown command" in text for text in texts), texts
    finally:
        await tg.close()
        await app.close()
