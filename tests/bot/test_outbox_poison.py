"""One outbox row that cannot be read or rendered never holds up the messages behind it: it is
dead-lettered (kept, never retried) and every other message goes out (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging

from bot.common.outbox import OutboxSender, SendLimits
from core.db import tables
from core.notifications.rentals import EndingSoon, PaymentSeen
from core.ports import OutgoingMessage
from core.services.base import enqueue
from core.services.notifications import NEVER
from tests.support import plant_damaged


class Recorder:
    platform = "test"

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def deliver(self, message: OutgoingMessage) -> None:
        self.sent.append(message.outbox_id)


async def _plant(app, user_id: int) -> tuple[list[int], list[int]]:
    """Good messages with poison ones between them; (good ids, poison ids)."""
    good, poison = [], []
    now = app.clock.now()
    async with app.uow() as uow:
        for i in range(6):
            if i in (1, 4):
                broken = "{not json" if i == 1 else '["a list"]'
                await plant_damaged(
                    uow,
                    tables.outbox,
                    user_id=user_id,
                    kind="payment_seen",
                    payload_json=broken,
                    dedupe_key=f"bad:{i}",
                    created_at=now,
                    next_attempt_at=now,
                    private=False,
                    attempts=0,
                )
            elif i == 2:  # stored fine, but renders with an error no one expected
                notice = EndingSoon(rental_id=7, paid_until=10**30)
                await enqueue(uow, notice, user_id=user_id, dedupe_key="bad:2", now=now)
            else:
                notice = PaymentSeen(rental_id=i, deposit=1, tx="0x")
                await enqueue(uow, notice, user_id=user_id, dedupe_key=f"ok:{i}", now=now)
        await uow.commit()
        for row in await uow.outbox.for_user(user_id):
            (poison if row.dedupe_key.startswith("bad") else good).append(row.id)
    return good, poison


async def test_poison_rows_are_dead_lettered_and_the_others_are_sent(app, clock, caplog):
    who = await app.users.identify("test", "ann", "ann", chat_id="ann")
    good, poison = await _plant(app, who.user_id)
    notifier = Recorder()
    sender = OutboxSender(
        app.notifications, notifier, limits=SendLimits(per_second=1000.0, per_chat_interval_s=0)
    )
    with caplog.at_level(logging.ERROR):
        await sender.run_once()
    assert notifier.sent == good
    async with app.uow(readonly=True) as uow:
        rows = {row.id: row for row in await uow.outbox.for_user(who.user_id)}
    for outbox_id in poison:
        assert rows[outbox_id].sent_at is None and rows[outbox_id].next_attempt_at == NEVER
        assert rows[outbox_id].last_error
        assert any(f"outbox message {outbox_id}" in m for m in caplog.messages)
    clock.advance(3600)
    assert await sender.run_once() == 0, "a dead letter is not tried again"


async def test_a_sender_whose_passes_keep_failing_backs_off(app, monkeypatch):
    calls = []

    async def broken(*args, **kwargs):
        calls.append(asyncio.get_running_loop().time())
        raise RuntimeError("database away")

    monkeypatch.setattr(app.notifications, "claim", broken)
    sender = OutboxSender(app.notifications, Recorder(), idle_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await task
    # 0.02, 0.04, 0.08, 0.16, 0.32 s apart: a handful of passes, not fifty
    assert 3 <= len(calls) <= 7, len(calls)
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[-1] >= 2 * gaps[0]
