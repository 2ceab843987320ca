"""Language from Telegram's language_code and /lang, the command menus in English and German,
and per-user rate limits (in memory, and in Redis when it runs here)."""

from __future__ import annotations

import pytest

from bot.common.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tests.bot.telegram.support import ALICE, BOB, GROUP, Harness
from tests.support import listening


async def test_german_from_language_code_until_lang_switches(tg):
    (start,) = await tg.send(BOB, "/start")  # language_code de-DE
    assert start.text.startswith("Willkommen bei rigshare")
    (unknown,) = await tg.send(BOB, "/rnet 4090 3h")
    assert unknown.text == "Unbekannter Befehl /rnet — meintest du /rent? Oder sende /help"
    (no_gpu,) = await tg.send(BOB, "/rent 4090")
    assert no_gpu.text == (
        "Wie lange? Probier: /rent rtx4090 3h\n"
        "(Schick einfach die Antwort als nächste Nachricht, oder /cancel.)"
    )
    (switched,) = await tg.send(BOB, "/lang en")
    assert switched.text == "Language set to English."
    (start,) = await tg.send(BOB, "/start")
    assert start.text.startswith("Welcome to rigshare")
    (unknown,) = await tg.send(BOB, "/rnet")
    assert unknown.text == "Unknown command /rnet — did you mean /rent? Or send /help"
    (switched,) = await tg.send(BOB, "/lang de")
    assert "Deutsch" in switched.text or "Sprache" in switched.text
    (quote,) = await tg.send(BOB, "/rent 4090 2h")
    assert quote.text.startswith("Angebot #")
    assert [b["text"] for b in quote.buttons()] == ["Bestätigen", "Günstiger", "Abbrechen"]
    (page,) = await tg.send(BOB, "/gpus")
    assert "Weiter ▶" in [b["text"] for b in page.buttons()]


async def test_menus_in_english_and_german_for_groups_and_private_chats(tg):
    menus = tg.telegram.commands
    assert set(menus) == {
        ("default", ""),
        ("default", "de"),
        ("all_private_chats", ""),
        ("all_private_chats", "de"),
    }
    group_en = {c["command"]: c["description"] for c in menus[("default", "")]}
    private_de = {c["command"]: c["description"] for c in menus[("all_private_chats", "de")]}
    assert "rent" in group_en and "addmachine" not in group_en
    assert private_de["addmachine"] == "GPU-Rechner hinzufügen (Agenten-Befehl)"
    assert group_en["rent"] == "Rent a GPU: /rent 4090 3h"
    for menu in menus.values():
        for c in menu:
            assert 1 <= len(c["description"]) <= 256 and c["command"].islower()


async def test_rate_limit_drops_floods_and_says_so_once(tg_app):
    tg = Harness(tg_app, limiter=MemoryRateLimiter(per_second=0.001, burst=3))
    await tg.start()
    try:
        answered = [await tg.send(ALICE, "/help") for _ in range(6)]
        assert [len(a) for a in answered[:3]] == [1, 1, 1]
        notes = [c for calls in answered[3:] for c in calls]
        assert [c.text for c in notes] == ["Slow down a little — try again in a few seconds."]
        assert tg.front.rate_limit.dropped == 3
        # another user is not affected; a button press over the limit is answered in place
        (bob,) = await tg.send(BOB, "/help", GROUP)
        assert "Mieten" in bob.text
        page = (await tg.send(BOB, "/gpus", GROUP))[0]
        await tg.send(BOB, "/help", GROUP)
        calls = await tg.press(BOB, page, "Weiter")
        assert [c.method for c in calls] == ["answerCallbackQuery"]
        assert "Etwas langsamer" in calls[0].params["text"]
    finally:
        await tg.close()


def _redis_up() -> bool:
    return listening(6379, timeout=0.3)


@pytest.mark.skipif(not _redis_up(), reason="Redis at 127.0.0.1:6379 is not reachable")
async def test_redis_limiter_is_shared_between_processes():
    from redis.asyncio import Redis

    clock = [1_000_000.0]
    one, two = Redis(), Redis()
    try:
        prefix = f"rigshare:test:{id(clock)}"
        a = RedisRateLimiter(one, 0.5, 4, prefix=prefix, clock=lambda: clock[0])
        b = RedisRateLimiter(two, 0.5, 4, prefix=prefix, clock=lambda: clock[0])
        results = [await (a if i % 2 else b).allow("tg:1") for i in range(6)]
        assert results == [True] * 4 + [False] * 2
        assert await a.allow("tg:2")  # per user
        clock[0] += a.window_s  # the next window
        assert await b.allow("tg:1")
    finally:
        await one.aclose()
        await two.aclose()


async def test_redis_limiter_lets_users_through_when_redis_is_down():
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        assert await RedisRateLimiter(dead, 1.0, 1).allow("tg:1")
    finally:
        await dead.aclose()


@pytest.mark.skipif(not _redis_up(), reason="Redis at 127.0.0.1:6379 is not reachable")
async def test_dialog_steps_and_limits_live_in_redis_when_configured(tg_app):
    from aiogram.fsm.storage.redis import RedisStorage

    tg_app.settings = tg_app.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    tg = Harness(tg_app, limiter=None)
    tg.front.rate_limit.limiter = RedisRateLimiter(tg.front.redis, 1000.0, 1000)
    await tg.start()
    try:
        assert isinstance(tg.front.dp.storage, RedisStorage)
        await tg.send(ALICE, "/rent 4090")  # the question is kept where every process reads it
        who = await tg_app.users.identify("telegram", str(ALICE.id), "Alice")
        assert await tg.front.rig.talk.pending(who) is not None
        (answer,) = await tg.send(ALICE, "/cancel")
        assert answer.text == "Okay, cancelled."
    finally:
        for key in [k async for k in tg.front.redis.scan_iter(f"fsm:{ALICE.id}:*")]:
            await tg.front.redis.delete(key)
        await tg.close()
