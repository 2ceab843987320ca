"""Telegram updates wait for the process's admission control on every way in: fed directly
(as polling does) and through the webhook, which answers 503 while the line is full."""

from __future__ import annotations

import asyncio

import aiohttp
from pydantic import SecretStr

from bot.bootstrap import build_app
from tests.bot.admission_support import Concurrency
from tests.bot.telegram.fake_telegram import FakeTelegram
from tests.bot.telegram.support import Harness, TgUser, message_json, served_webhook


async def test_telegram_updates_fed_at_once_are_handled_a_few_at_a_time(tg_settings, clock):
    settings = tg_settings.model_copy(update={"updates_in_flight": 3})
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    tg = Harness(app)
    await tg.start()
    seen = Concurrency(app.users, "identify")
    try:
        users = [TgUser(7000 + i, f"user{i}") for i in range(24)]
        answers = await asyncio.gather(*(tg.send(u, "/help") for u in users))
    finally:
        await tg.close()
        await app.close()
    assert seen.calls == 24 and seen.peak <= 3
    assert all(any("/receipts" in c.text for c in calls) for calls in answers)
    assert app.admission.peak_in_flight == 3 and app.admission.peak_waiting > 3


async def test_a_full_line_has_the_webhook_answer_503_so_telegram_sends_it_again(
    tg_settings, clock
):
    settings = tg_settings.model_copy(
        update={
            "telegram_webhook": True,
            "public_url": "https://rig.example",
            "telegram_webhook_secret": SecretStr("s3cret"),
            "updates_in_flight": 1,
            "updates_waiting": 0,
        }
    )
    app = build_app(settings, clock=clock, auto_approve=True)
    await app.start()
    telegram = FakeTelegram(now=clock.now())
    front, runner, url = await served_webhook(app, telegram)
    alice = TgUser(8001, "alice")
    update = {
        "update_id": 5,
        "message": message_json(1, clock.now(), alice.id, alice, "/help"),
    }
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    busy = asyncio.Event()
    done = asyncio.Event()

    async def other_update() -> None:  # holds the one slot until told
        async with app.admission.slot():
            busy.set()
            await done.wait()

    try:
        await front.start(sender=False)
        holder = asyncio.create_task(other_update())
        await busy.wait()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "no"}
            ) as r:
                assert r.status == 401  # a stranger learns nothing, busy or not
            async with http.post(url, json=update, headers=good) as r:
                assert r.status == 503 and r.headers["Retry-After"] == "1"
            await asyncio.sleep(0.1)
            assert not telegram.sent("sendMessage", alice.id)  # refused: not handled at all
            done.set()
            await holder
            async with http.post(url, json=update, headers=good) as r:  # Telegram's retry
                assert r.status == 200
            (reply,) = await telegram.wait_sent("sendMessage", alice.id, timeout_s=3.0)
        assert "/receipts" in reply.text and app.admission.refused == 1
    finally:
        await front.stop()
        await runner.cleanup()
        await app.close()
