"""Two outbox senders (two processes) and a claim that runs out: a sender that was held up
between two messages of its batch does not send the one another sender took over meanwhile,
and a dead sender's messages go out within the short lease (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import itertools

from bot.common.outbox import OutboxSender, SendLimits
from core.notifications.rentals import PaymentSeen
from core.ports import OutgoingMessage
from core.services.base import enqueue


class Recorder:
    platform = "test"

    def __init__(self, log: list, name: str) -> None:
        self.log, self.name = log, name
        self.delivered = asyncio.Event()

    async def deliver(self, message: OutgoingMessage) -> None:
        self.log.append((self.name, message.outbox_id))
        self.delivered.set()


async def _queue(app, n: int) -> int:
    who = await app.users.identify("test", "ann", "ann", chat_id="ann")
    async with app.uow() as uow:
        for i in range(n):
            await enqueue(
                uow,
                PaymentSeen(rental_id=i, deposit=1, tx="0x"),
                user_id=who.user_id,
                dedupe_key=f"lease:{i}",
                now=app.clock.now(),
            )
        await uow.commit()
    return who.user_id


async def test_a_sender_held_up_mid_batch_leaves_the_taken_over_message_alone(app, clock):
    await _queue(app, 2)
    sent: list = []
    gate = asyncio.Event()
    ticks = itertools.count()

    pacing = asyncio.Event()

    async def held_up(_seconds: float) -> None:
        pacing.set()  # the first message is sent and recorded; the second waits its turn
        await gate.wait()  # ... for a long time

    slow = Recorder(sent, "a")
    a = OutboxSender(
        app.notifications,
        slow,
        limits=SendLimits(per_second=1000.0, per_chat_interval_s=1.0),
        monotonic=lambda: float(next(ticks)) / 1000,
        sleep=held_up,
    )
    b = OutboxSender(
        app.notifications,
        Recorder(sent, "b"),
        limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
    )
    first = asyncio.create_task(a.run_once())
    await pacing.wait()
    assert slow.delivered.is_set()
    clock.advance(a.lease_s + 1)  # a's claim on the second message ran out
    assert await b.run_once() == 1
    gate.set()
    assert await first == 2
    assert sorted(sent) == [("a", 1), ("b", 2)]  # each message once


async def test_a_dead_senders_messages_go_out_after_the_lease(app, clock):
    user_id = await _queue(app, 3)
    sent: list = []
    claimed = await app.notifications.claim("test", 10, lease_s=20)  # then the process died
    assert len(claimed) == 3
    b = OutboxSender(
        app.notifications,
        Recorder(sent, "b"),
        limits=SendLimits(per_second=1000.0, per_chat_interval_s=0.0),
    )
    assert b.lease_s <= 20
    assert await b.run_once() == 0
    clock.advance(20)
    assert await b.run_once() == 3
    assert sorted(sent) == [("b", 1), ("b", 2), ("b", 3)]
    assert all(at is not None for _, _, at in await app.notifications.history(user_id))
