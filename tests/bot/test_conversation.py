"""A conversation can continue: the bot's own question is answered by the next plain message.

The dead ends of issue 13, played in English and German through the real dispatcher on the
terminal chat, Telegram (aiogram's Dispatcher fed updates) and Discord (plain DM messages
through the bot's ``on_message``). Each step names what the reply must say and, for answers,
the grammar command the answer must have become; every front end must give the same texts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

from bot.bootstrap import build_app
from bot.common.conversation import PENDING_TTL_S
from bot.common.dispatch import Dispatcher, Reply
from bot.settings import Settings
from bot.terminal.chat import TerminalChat
from core import grammar as g
from tests.bot.discord.fakes import FakeUser
from tests.bot.discord.support import approve_all
from tests.bot.test_parity import (
    alice_of,
    discord_alice,
    fresh_app,
    mask,
    record_commands,
    record_replies,
    terminal_alice,
)
from tests.fakes.clock import FakeClock
from tests.support import add_provider


@dataclass(frozen=True)
class Say:
    line: str
    shows: str  # a piece of the reply's text
    becomes: type | None = None  # the grammar command the line must have reached
    error: bool | None = None
    approve: bool = False  # the renter approves every wallet request before the line


SCRIPT = [
    # /rent 4090 -> "For how long?" -> 3h; an answer that does not fit keeps the question
    Say("/rent 4090", "For how long?", error=True),
    Say("soon", "I asked for how long", error=True),
    Say("3h", "Duration: 3h", g.RentArgs, error=False),
    # a quote is open: a stray word keeps it, Cheaper on the cheapest keeps it, yes confirms
    Say("maybe", "Quote #1 is still open", error=True),
    Say("Cheaper", "Nothing cheaper is free right now — quote #1 still stands"),
    Say("whatever", "Quote #1 is still open", error=True),
    Say("Confirm", "Approve ONE request in your wallet", error=False),
    # bare /rent: which GPU and how long, in as many answers as it takes (rental #1 now runs)
    Say("/rent", "Which GPU and for how long?", error=True, approve=True),
    Say("3h", "Which GPU?", error=True),
    Say("4090", "Quote #2", g.RentArgs, error=False),
    Say("no", "Quote #2 cancelled; nothing was charged", error=False),
    # /gpus a100: answer with the number, after one answer that fits nothing
    Say("/gpus a100", "1) A100 40GB, 2) A100 80GB", error=True),
    Say("banana", "Which one? Answer with the number or the name", error=True),
    Say("2", "", g.Gpus, error=False),
    # /dispute #1 -> "What went wrong?" -> the reason as plain text
    Say("/dispute #2", "was cancelled before it started", error=True),  # refused, not asked
    Say("/dispute #1", "What went wrong? Send the reason", error=False),
    Say("the GPU vanished", "", g.Dispute),
    Say("/dispute", "What went wrong?"),
    Say("/cancel", "Okay, no dispute."),
    Say("/cancel", "Nothing to cancel."),
    Say("the GPU vanished", "Commands start with /", error=True),  # nothing asked any more
    # a new /command replaces the question
    Say("/rent 4090", "For how long?", error=True),
    Say("/gpus", "Free GPUs", g.Gpus, error=False),
    Say("3h", "Commands start with /", error=True),
    # the same in German
    Say("/lang de", "Deutsch"),
    Say("/rent 4090", "Wie lange?", error=True),
    Say("bald", "Ich hatte nach der Dauer gefragt", error=True),
    Say("2h", "Dauer: 2h", g.RentArgs, error=False),
    Say("vielleicht", "Angebot #3 ist noch offen", error=True),
    Say("Günstiger", "Gerade ist nichts Günstigeres frei — Angebot #3 gilt weiter"),
    Say("Bestätigen", "Bestätige EINE Anfrage in deiner Wallet", error=False),
    Say("/rent", "Welche GPU und wie lange?", error=True),
    Say("h100 1h", "Angebot #4", g.RentArgs, error=False),
    Say("nein", "Angebot #4 verworfen", error=False),
    Say("/rent h100 1h", "Angebot #5", error=False),
    Say("ja", "Bestätige EINE Anfrage", error=False),
    Say("/gpus a100", "1) A100 40GB, 2) A100 80GB", error=True),
    Say("a100 80gb", "", g.Gpus, error=False),
    Say("/dispute 1", "Was ist schiefgelaufen?", error=False),
    Say("Die GPU ist weg", "", g.Dispute),
]


def check(step: Say, reply: Reply, commands: list) -> str:
    assert step.shows in reply.text, (step, reply.text)
    assert "Commands start with" not in reply.text or "Commands start" in step.shows, step
    if step.becomes is not None:
        assert any(isinstance(c, step.becomes) for c in commands), (step, commands)
    if step.error is not None:
        assert reply.error is step.error, (step, reply.text)
    return mask(reply.text)


def recorded(dispatcher: Dispatcher) -> list[Reply]:
    return record_replies(dispatcher, ("handle_text", "handle_command", "handle_action"))


async def play_terminal(tmp_path, script: list[Say] = SCRIPT) -> list[str]:
    app = await fresh_app(tmp_path, "terminal")
    try:
        chat, commands = await terminal_alice(app)
        out = []
        for step in script:
            if step.approve:
                await approve_all(app)
            del commands[:]
            out.append(check(step, await chat.say("alice", step.line), commands))
        return out
    finally:
        await app.close()


async def play_telegram(tmp_path, script: list[Say] = SCRIPT) -> list[str]:
    from tests.bot.telegram.fake_telegram import TOKEN
    from tests.bot.telegram.support import ALICE, Harness

    app = await fresh_app(tmp_path, "telegram", telegram_token=TOKEN)
    tg = Harness(app)
    await tg.start()
    try:
        replies = recorded(tg.front.rig)
        commands = record_commands(tg.front.rig)
        await alice_of(app, "telegram", ALICE.id)
        out = []
        for step in script:
            if step.approve:
                await approve_all(app)
            del commands[:]
            before = len(replies)
            await tg.send(ALICE, step.line)
            assert len(replies) > before, step  # every line was answered
            out.append(check(step, replies[before], commands))
        return out
    finally:
        await tg.close()
        await app.close()


def dm_message(user: FakeUser, text: str) -> SimpleNamespace:
    return SimpleNamespace(author=user, content=text, guild=None, channel=user.dm_channel)


async def play_discord(tmp_path, script: list[Say] = SCRIPT) -> list[str]:
    async with discord_alice(tmp_path) as (app, bot, transcript, alice):
        replies = recorded(bot.front.dispatcher)
        commands = record_commands(bot.front.dispatcher)
        await alice_of(app, "discord", alice.id)
        out = []
        for step in script:
            if step.approve:
                await approve_all(app)
            del commands[:]
            before = len(transcript.messages)
            await bot.on_message(dm_message(alice, step.line))
            assert len(transcript.messages) > before, step  # answered in the DM
            assert transcript.last().audience == "dm"
            out.append(check(step, replies[-1], commands))
        return out


async def test_the_next_plain_message_answers_the_question_on_every_front_end(tmp_path):
    terminal = await play_terminal(tmp_path)
    telegram = await play_telegram(tmp_path)
    discord = await play_discord(tmp_path)
    assert telegram == terminal
    assert discord == terminal


async def test_the_question_outlives_a_restart_and_expires(tmp_path):
    url = f"sqlite:///{tmp_path}/restart.sqlite3"
    clock = FakeClock()

    async def started():
        app = build_app(Settings(_env_file=None, chain="fake", database_url=url), clock=clock)
        await app.start()
        return app

    app = await started()
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    chat = TerminalChat(app, out=lambda _: None)
    assert "For how long?" in (await chat.say("alice", "/rent 4090")).text
    await app.close()

    app = await started()  # a new process: the question is still there
    chat = TerminalChat(app, out=lambda _: None)
    assert "Duration: 3h" in (await chat.say("alice", "3h")).text
    assert "For how long?" in (await chat.say("alice", "/rent 4090")).text
    clock.advance(PENDING_TTL_S + 1)  # a question left unanswered is forgotten
    assert "Commands start with /" in (await chat.say("alice", "3h")).text
    await app.close()


async def test_a_damaged_question_record_reads_as_none(tmp_path):
    app = await fresh_app(tmp_path, "damaged")
    try:
        chat = TerminalChat(app, out=lambda _: None)
        who = await chat.principal("alice")
        await app.kv.put(f"ask:terminal:{who.user_id}", '{"kind": "quote", "data": 7}')
        reply = await chat.say("alice", "/rent 4090 3h")
        assert "Quote #" in reply.text and not reply.error
    finally:
        await app.close()


async def test_a_group_is_never_asked_for_a_next_message(tmp_path):
    """In a group the next message may be anybody's chatter: no question is kept there, and
    the reply does not promise that a plain answer will do."""
    app = await fresh_app(tmp_path, "group")
    try:
        dm = await app.users.identify("telegram", "77", "Gina", chat_id="77")
        group = replace(dm, private_chat=False)
        rig = Dispatcher(app)
        for line, shows in (
            ("/rent 4090", "For how long?"),
            ("/dispute #1", "Say what went wrong"),
            ("/gpus a100", "matches several GPUs"),
        ):
            reply = await rig.handle_text(group, line)
            assert shows in reply.text, (line, reply.text)
            assert "next message" not in reply.text and "Answer with" not in reply.text, line
            assert await rig.talk.pending(dm) is None, line
        assert "For how long?" in (await rig.handle_text(dm, "/rent 4090")).text
        assert await rig.talk.pending(dm) is not None
    finally:
        await app.close()


async def test_a_discord_slash_question_is_answered_by_a_dm_message(tmp_path):
    from tests.bot.discord.fakes import FakeInteraction
    from tests.bot.discord.support import slash

    async with discord_alice(tmp_path, "slash") as (_app, bot, transcript, alice):
        commands = record_commands(bot.front.dispatcher)
        await slash(bot, "gpus", FakeInteraction(bot, alice, transcript=transcript), gpu="a100")
        assert "1) A100 40GB, 2) A100 80GB" in transcript.last().content
        del commands[:]
        await bot.on_message(dm_message(alice, "2"))
        assert commands == [g.Gpus(filters=g.GpuFilters(model="a100-80gb"))], commands
        assert transcript.last().audience == "dm"


class CountingKv:
    """The key-value service, counting its reads and writes; ``fail`` makes writes raise."""

    def __init__(self, kv) -> None:  # noqa: ANN001 - core.services.kv.KeyValueService
        self.kv, self.gets, self.writes, self.fail = kv, 0, 0, False

    async def get(self, key: str) -> str | None:
        self.gets += 1
        return await self.kv.get(key)

    async def put(self, key: str, value: str) -> None:
        await self.put_many({key: value})

    async def put_many(self, values: dict[str, str]) -> None:
        if self.fail:
            raise OSError("database gone")
        self.writes += 1
        await self.kv.put_many(values)


async def test_a_sole_receiver_reads_each_users_question_once_and_writes_behind(tmp_path):
    import asyncio

    from bot.common.conversation import QUOTE, Conversation

    app = await fresh_app(tmp_path, "remember")
    try:
        users = [await app.users.identify("telegram", str(80 + i), f"U{i}") for i in range(5)]
        dm = users[0]
        counting = CountingKv(app.kv)
        talk = Conversation(counting, app.clock.now, remember=True)  # type: ignore[arg-type]
        table = Conversation(app.kv, app.clock.now)  # what a restarted process would read
        assert await talk.pending(dm) is None and await talk.pending(dm) is None
        assert counting.gets == 1  # "no question" is remembered too
        await talk.ask(dm, QUOTE, ("5",))
        assert (await talk.pending(dm)).data == ("5",) and counting.gets == 1
        await talk.flush()
        assert (await table.pending(dm)).data == ("5",)
        # questions asked together go in one write
        writes = counting.writes
        for i, who in enumerate(users):
            await talk.ask(who, QUOTE, (str(10 + i),))
        await talk.clear(dm)
        await talk.flush()
        assert counting.writes - writes <= 2  # the first alone at most, the rest together
        assert await table.pending(dm) is None
        assert [(await table.pending(u)).data for u in users[1:]] == [
            ("11",),
            ("12",),
            ("13",),
            ("14",),
        ]
        # a failed write: memory still answers, and the next write carries the step too
        counting.fail = True
        await talk.ask(dm, QUOTE, ("6",))
        await asyncio.sleep(0)  # the writer runs and fails (logged)
        assert (await talk.pending(dm)).data == ("6",)
        assert await table.pending(dm) is None
        counting.fail = False
        await talk.ask(users[1], QUOTE, ("7",))
        await talk.flush()
        assert (await table.pending(dm)).data == ("6",)
        assert (await table.pending(users[1])).data == ("7",)
        # an expired question is none, remembered or not
        app.clock.advance(PENDING_TTL_S + 1)
        assert await talk.pending(dm) is None and await table.pending(dm) is None
    finally:
        await app.close()


async def test_only_a_polling_telegram_front_end_keeps_questions_in_memory(tmp_path):
    """Polling: one process receives every update, so memory is the truth. A webhook may be
    served by several processes: another one's question must be read from the table, so a
    question asked through a second front end on the same database is seen."""
    from bot.telegram.front import TelegramFrontEnd
    from tests.bot.telegram.fake_telegram import TOKEN, FakeTelegram, RecordingSession

    polling_app = await fresh_app(tmp_path, "polling", telegram_token=TOKEN)
    try:
        polling = TelegramFrontEnd(polling_app, session=RecordingSession(FakeTelegram()))
        assert polling.rig.talk.remember
    finally:
        await polling_app.close()
    app = await fresh_app(
        tmp_path,
        "webhook",
        telegram_token=TOKEN,
        telegram_webhook=True,
        public_url="https://rig.example",
    )
    try:
        one, two = (
            TelegramFrontEnd(app, session=RecordingSession(FakeTelegram())) for _ in range(2)
        )
        dm = await app.users.identify("telegram", "79", "Ida", chat_id="79")
        assert await two.rig.talk.pending(dm) is None
        assert "For how long?" in (await one.rig.handle_text(dm, "/rent 4090")).text
        assert "Duration: 3h" in (await two.rig.handle_text(dm, "3h")).text
    finally:
        await app.close()
