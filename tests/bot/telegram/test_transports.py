"""The real transports: aiogram's own polling loop against a Bot API stand-in on 127.0.0.1
for a whole rental conversation, and webhook mode with and without the secret header."""

from __future__ import annotations

import asyncio
import itertools
import re

import aiohttp
from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.telegram.front import TelegramFrontEnd, webhook_secret
from tests.bot.telegram.conftest import market
from tests.bot.telegram.fake_telegram import BotApiServer, Call, FakeTelegram, RecordingSession
from tests.bot.telegram.support import ALICE, callback_query_json, message_json, served_webhook

_ids = itertools.count(1)


class Chat:
    """ALICE talking to the bot through the stand-in server's getUpdates queue."""

    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram

    async def say(self, text: str) -> None:
        message = message_json(next(_ids), self.telegram.now, ALICE.id, ALICE, text)
        self.telegram.push_update({"message": message})

    async def press(self, sent: Call, label: str) -> None:
        (data,) = [b["callback_data"] for b in sent.buttons() if label in b["text"]]
        query = callback_query_json(next(_ids), ALICE, sent, data)
        self.telegram.push_update({"callback_query": query})

    async def expect(self, pattern: str, seconds: float = 10.0) -> Call:
        """The first message to Alice from now on that matches ``pattern``."""
        start = len(self.telegram.calls)
        for _ in range(int(seconds / 0.02)):
            for c in self.telegram.calls[start:]:
                if c.chat_id == ALICE.id and re.search(pattern, c.text):
                    return c
            await asyncio.sleep(0.02)
        seen = [c.text[:60] for c in self.telegram.calls[start:]]
        raise AssertionError(f"no message matching {pattern!r}; saw {seen}")


async def test_a_whole_rental_through_the_real_polling_loop(tg_settings, clock):
    telegram = FakeTelegram(now=clock.now())
    server = await BotApiServer(telegram).start()
    settings = tg_settings.model_copy(
        update={"telegram_api_url": server.url, "telegram_polling_timeout_s": 1}
    )
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    await market(app)
    front = TelegramFrontEnd(app)
    front.sender.idle_s = 0.05
    alice = Chat(telegram)
    try:
        await front.start()
        assert [c.method for c in telegram.calls[:2]] == ["getMe", "setMyCommands"]
        assert telegram.sent("deleteWebhook")
        await alice.say("/start")
        await alice.expect("Welcome to rigshare")
        await alice.say("/gpus")
        await alice.expect(r"Free GPUs \(12 in all\)")
        await alice.say("/rent 4090 3h")
        quote = await alice.expect(r"Quote #\d+")
        await alice.press(quote, "Confirm")
        await _settle(app, alice, r"ssh -p 2222 root@127\.0\.0\.1")
        key = [c for c in telegram.sent("sendDocument", ALICE.id)]
        assert key and next(iter(key[0].files.values()))[0].endswith(".key")
        await alice.say("/status")
        await alice.expect(r"Rental #\d+ · active")
        await alice.say("/extend 1h")
        await _settle(app, alice, "extended: prepaid until")
        clock.advance(1800)
        await alice.say("/stop")
        receipt = await _settle(app, alice, r"Receipt · rental #\d+ · settled")
        assert re.search(r"Billed\s+0\.175 USDC", receipt.text)  # 30 min at $0.35/h
        await alice.say("/rate 5")
        await alice.expect("with 5/5")
    finally:
        await front.stop()
        await app.close()
        await server.stop()
    # every update was fetched once: each getUpdates confirmed the ones before (offset)
    assert sorted(telegram.served) == list(range(1, telegram.pushed + 1))
    handled = [c for c in telegram.calls if c.method in ("sendMessage", "sendPhoto")]
    assert len([c for c in handled if "Welcome to rigshare" in c.text]) == 1


async def _settle(app, chat: Chat, pattern: str) -> Call:
    """Wait for the simulated wallet and agent (background tasks), then for the message."""
    waiter = asyncio.create_task(chat.expect(pattern))
    for _ in range(50):
        await app.settle()
        if waiter.done():
            break
        await asyncio.sleep(0.05)
    return await waiter


async def test_webhook_takes_updates_only_with_the_secret_header(tg_settings, clock):
    settings = tg_settings.model_copy(
        update={
            "telegram_webhook": True,
            "public_url": "https://rig.example",
            "telegram_webhook_secret": SecretStr("s3cret-header_value"),
        }
    )
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    telegram = FakeTelegram(now=clock.now())
    front, runner, url = await served_webhook(app, telegram)
    update = {
        "update_id": 77,
        "message": message_json(1, clock.now(), ALICE.id, ALICE, "/help"),
    }
    try:
        await front.start(sender=False)
        (hook,) = telegram.sent("setWebhook")
        assert hook.params["url"] == "https://rig.example/telegram/webhook"
        assert hook.params["secret_token"] == "s3cret-header_value"
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(url, json=update, headers=headers) as resp:
                    assert resp.status == 401
            await asyncio.sleep(0.1)
            assert not telegram.sent("sendMessage")
            good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-header_value"}
            async with http.post(url, json=update, headers=good) as resp:
                assert resp.status == 200
            (reply,) = await telegram.wait_sent("sendMessage", ALICE.id, timeout_s=2.0)
            assert "/receipts [csv]" in reply.text
            # Telegram sends an update again when it missed the answer: handled once
            async with http.post(url, json=update, headers=good) as resp:
                assert resp.status == 200
            await asyncio.sleep(0.2)
            assert len(telegram.sent("sendMessage", ALICE.id)) == 1
    finally:
        await front.stop()
        await runner.cleanup()
        await app.close()


async def test_webhook_mode_needs_https_and_derives_a_stable_secret(tg_settings, clock):
    settings = tg_settings.model_copy(update={"telegram_webhook": True})  # http://127.0.0.1
    app = build_app(settings, clock=clock)
    front = TelegramFrontEnd(app, session=RecordingSession())
    try:
        try:
            await front.start()
        except ValueError as exc:
            assert "https" in str(exc)
        else:
            raise AssertionError("an http webhook was accepted")
    finally:
        await front.stop()
        await app.close()
    secret = webhook_secret(settings)
    assert secret == webhook_secret(settings.model_copy()) and len(secret) == 64
    assert settings.telegram_token.get_secret_value() not in secret
