"""The outbox sender with the Telegram notifier: retries when the Bot API fails, pauses on
flood control, dead-letters what can never arrive, and never delivers a message twice, even
with two service processes sending at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from aiogram.types import User
from pydantic import SecretStr

from bot.bootstrap import build_app
from bot.common.outbox import OutboxSender, SendLimits
from core.notifications import from_payload
from core.notifications.rentals import PrivateKey
from core.services.base import enqueue
from core.services.notifications import NEVER
from tests.bot.telegram.fake_telegram import TOKEN
from tests.bot.telegram.support import ALICE, BOB, CAROL, Harness
from tests.support import pg_drop_schema, pg_exec


async def queue(app, user_id: int, n: int, kind: str = "payment_seen", start: int = 1) -> None:
    async with app.uow() as uow:
        for i in range(start, start + n):
            await enqueue(
                uow,
                from_payload(
                    kind, {"rental_id": i, "deposit": 1_000_000 + i, "tx": "0x" + "ab" * 32}
                ),
                user_id=user_id,
                dedupe_key=f"test:{kind}:{user_id}:{i}",
                now=app.clock.now(),
            )
        await uow.commit()


async def user_id(tg: Harness, user) -> int:
    """The core user behind a Telegram user (created as the identity middleware does)."""
    return (await tg.front.identity.principal(User(**user.json()), True)).user_id


async def test_a_failing_api_is_retried_with_backoff(tg):
    alice = await user_id(tg, ALICE)
    await queue(tg.app, alice, 1)
    tg.telegram.fail("sendMessage", 500, "Internal Server Error")
    assert await tg.front.sender.run_once() == 1  # handled: failed, backed off
    assert await tg.front.sender.run_once() == 0  # not due yet
    ((kind, _, sent_at),) = await tg.app.notifications.history(alice)
    assert kind == "payment_seen" and sent_at is None
    tg.app.clock.advance(5)
    assert await tg.front.sender.run_once() == 1
    sends = tg.telegram.sent("sendMessage", ALICE.id)
    assert len(sends) == 2 and "Payment seen: 1.000001 USDC" in sends[1].text
    assert (await tg.app.notifications.history(alice))[0][2] is not None
    assert await tg.front.sender.run_once() == 0


async def test_flood_control_pauses_the_sender_and_keeps_the_rest_queued(tg):
    alice = await user_id(tg, ALICE)
    await queue(tg.app, alice, 3)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sender = OutboxSender(
        tg.app.notifications,
        tg.front.notifier,
        limits=SendLimits(per_second=1000, per_chat_interval_s=0),
        sleep=sleep,
    )
    tg.telegram.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    assert await sender.run_once() == 1  # the first was refused; the other two handed back
    assert not slept
    assert await sender.run_once() == 2  # after the pause, the two handed back
    assert slept and slept[0] > 6
    assert await sender.run_once() == 0  # the refused one waits for Telegram's 7 seconds
    tg.app.clock.advance(7)
    assert await sender.run_once() == 1
    texts = [c.text for c in tg.telegram.sent("sendMessage", ALICE.id)]
    assert len(texts) == 4 and len(set(texts[1:])) == 3  # one refused, then each once
    assert texts[0] == texts[3]
    assert sender.failed == 1 and sender.sent == 3


async def test_a_chat_that_does_not_exist_is_not_retried(tg):
    alice = await user_id(tg, ALICE)
    await queue(tg.app, alice, 1)
    tg.telegram.fail("sendMessage", 400, "Bad Request: chat not found")
    await tg.front.sender.run_once()
    async with tg.app.uow(readonly=True) as uow:
        (row,) = await uow.outbox.for_user(alice)
    assert row.next_attempt_at == NEVER and row.sent_at is None
    assert "chat not found" in row.last_error


async def test_key_file_as_a_document_then_scrubbed(tg):
    alice = await user_id(tg, ALICE)
    async with tg.app.uow() as uow:
        await enqueue(
            uow,
            PrivateKey(rental_id=5, private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"),
            user_id=alice,
            dedupe_key="key:5",
            now=tg.app.clock.now(),
        )
        await uow.commit()
    await tg.front.sender.run_once()
    (doc,) = tg.telegram.sent("sendDocument", ALICE.id)
    assert doc.params["caption"].startswith("Private key for rental #5")
    assert list(doc.files.values()) == [
        ("rigshare-5.key", b"-----BEGIN OPENSSH PRIVATE KEY-----\nx\n")
    ]
    ((_, payload, sent_at),) = await tg.app.notifications.history(alice)
    assert payload == {"rental_id": 5, "scrubbed": True} and sent_at is not None


async def test_two_processes_sending_at_once_deliver_each_message_once(settings, clock):
    """Two applications (two engines, as two processes have) on one database, each with a
    Telegram sender; a slow Bot API makes their claims overlap."""
    if settings.database_schema:
        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{settings.database_schema}"')
    settings = settings.model_copy(update={"telegram_token": SecretStr(TOKEN)})
    one, two = build_app(settings, clock=clock), build_app(settings, clock=clock)
    await one.start()
    await two.start()
    harnesses = [Harness(one), Harness(two)]
    try:
        for h in harnesses:
            await h.start()
            slow = h.telegram.call

            async def delayed(method, params, files, slow=slow):
                await asyncio.sleep(0.002)
                return await slow(method, params, files)

            h.telegram.call = delayed  # type: ignore[method-assign]
        ids = [await user_id(harnesses[0], u) for u in (ALICE, BOB, CAROL)]
        for uid in ids:
            await queue(one, uid, 12)
        for h in harnesses:  # small batches, so the two interleave
            h.front.sender.batch = 4
        while True:
            done = await asyncio.gather(*(h.front.sender.run_once() for h in harnesses))
            if not any(done):
                break
        delivered = [
            (c.chat_id, c.text)
            for h in harnesses
            for c in h.telegram.calls
            if c.method == "sendMessage"
        ]
        assert len(delivered) == 36 and len(set(delivered)) == 36
        assert all(h.front.sender.sent > 0 for h in harnesses)  # both took part
    finally:
        for h in harnesses:
            await h.close()
        await one.close()
        await two.close()
        if settings.database_schema:
            await asyncio.to_thread(pg_drop_schema, settings.database_schema)
