"""Driving the real aiogram Dispatcher of the Telegram front end with updates, as Telegram
would send them, and reading what the bot sent back (``FakeTelegram`` calls)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from aiogram.types import Update
from aiohttp import web

from bot.bootstrap import App
from bot.common.outbox import SendLimits
from bot.common.ratelimit import MemoryRateLimiter, RateLimiter
from bot.telegram.front import TelegramFrontEnd
from tests.bot.telegram.fake_telegram import Call, FakeTelegram, RecordingSession

GROUP = -1001234567890


@dataclass(frozen=True)
class TgUser:
    id: int
    username: str
    language_code: str = "en"

    def json(self) -> dict:
        return {
            "id": self.id,
            "is_bot": False,
            "first_name": self.username.title(),
            "username": self.username,
            "language_code": self.language_code,
        }


ALICE = TgUser(1001, "alice")
BOB = TgUser(1002, "bob", "de-DE")
CAROL = TgUser(1003, "carol")


def chat_json(chat_id: int, user: TgUser) -> dict:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": user.username.title()}
    return {"id": chat_id, "type": "supergroup", "title": "GPU friends"}


def message_json(message_id: int, date: int, chat_id: int, user: TgUser, text: str) -> dict:
    """A text message as the Bot API sends it; a leading /command is marked as one."""
    message = {
        "message_id": message_id,
        "date": date,
        "chat": chat_json(chat_id, user),
        "from": user.json(),
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split(maxsplit=1)[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return message


def callback_query_json(query_id: int, user: TgUser, sent: Call, data: str) -> dict:
    """A button press on ``sent`` (a message the bot sent) as the Bot API sends it."""
    return {
        "id": str(query_id),
        "from": user.json(),
        "chat_instance": "ci-1",
        "message": sent.result,
        "data": data,
    }


class Harness:
    """One Telegram front end on a RecordingSession; ``send`` and ``press`` feed updates
    through ``Dispatcher.feed_update`` and return the Bot API calls they caused."""

    def __init__(
        self,
        app: App,
        *,
        limiter: RateLimiter | None = None,
        status_interval_s: float = 3600.0,
        telegram: FakeTelegram | None = None,
    ) -> None:
        self.app = app
        self.telegram = telegram or FakeTelegram(now=app.clock.now())
        self.front = TelegramFrontEnd(
            app,
            session=RecordingSession(self.telegram),
            limiter=limiter or MemoryRateLimiter(1000.0, 1000),
            send_limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
            status_interval_s=status_interval_s,
        )
        self.bot = self.front.bot
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)

    async def start(self) -> None:
        await self.front.prepare()

    async def close(self) -> None:
        await self.front.stop()

    async def feed(self, update: dict) -> list[Call]:
        before = len(self.telegram.calls)
        parsed = Update.model_validate(
            {"update_id": next(self._update_ids), **update}, context={"bot": self.bot}
        )
        await self.front.dp.feed_update(self.bot, parsed)
        return self.telegram.calls[before:]

    async def send(self, user: TgUser, text: str, chat_id: int | None = None) -> list[Call]:
        chat = chat_id if chat_id is not None else user.id
        message = message_json(next(self._message_ids), self.app.clock.now(), chat, user, text)
        return await self.feed({"message": message})

    async def press(self, user: TgUser, sent: Call, label: str) -> list[Call]:
        """Press the button whose label contains ``label`` on a message the bot sent."""
        data = button(sent, label)["callback_data"]
        return await self.press_data(user, sent, data)

    async def press_data(self, user: TgUser, sent: Call, data: str) -> list[Call]:
        query = callback_query_json(next(self._update_ids) * 7919, user, sent, data)
        return await self.feed({"callback_query": query})

    async def deliver(self) -> int:
        """Let simulated wallets and agents answer, then send every due outbox message."""
        total = 0
        while True:
            await self.app.settle()
            sent = await self.front.sender.run_once()
            total += sent
            if not sent:
                return total


def button(sent: Call, label: str) -> dict:
    for b in sent.buttons():
        if label.casefold() in b["text"].casefold():
            return b
    raise AssertionError(f"no button {label!r} in {[b['text'] for b in sent.buttons()]}")


def texts(calls: list[Call]) -> str:
    return "\n---\n".join(c.text for c in calls)


async def served_webhook(
    app: App, telegram: FakeTelegram
) -> tuple[TelegramFrontEnd, web.AppRunner, str]:
    """The Telegram front end on ``telegram``, its webhook served on a free loopback port:
    the front end, the runner (the test cleans it up) and the webhook URL."""
    front = TelegramFrontEnd(app, session=RecordingSession(telegram))
    web_app = web.Application()
    front.mount(web_app)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return front, runner, f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
