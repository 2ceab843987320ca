"""Overload: many more renters at once than one process serves, on SQLite, through the real
Telegram dispatcher; afterwards every rental rests in a state the escrow agrees with and the
escrow's ledger conserves every micro-USDC.

Under an uncapped one-minute load a database that failed for a moment (a pool timeout, a
locked SQLite file) right after an escrow call lost that call's record: the deposit stayed
locked in the escrow while the database called the rental unpaid and then cancelled it
(``core.services.mirror``). The load here is short, so the database does not fail by itself
within it; it fails on purpose, once in a while, exactly there.
"""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy.exc import OperationalError

from bot.bootstrap import build_app
from tests.books import audit
from tests.bot.telegram.support import Harness, TgUser
from tests.support import add_provider

RENTERS = 120  # all at once: over seven times the updates one process handles at a time
GPUS = 40  # fewer than renters: confirms race for the same GPUs
ATTEMPTS = 4  # confirms per renter: the quote, then next best offers


def flaky(method, every: int):  # noqa: ANN001, ANN201
    """``method`` failing like an overloaded SQLite on every ``every``-th call."""
    calls = itertools.count(1)

    async def call(*args, **kwargs):
        if next(calls) % every == 0:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return await method(*args, **kwargs)

    return call


def _confirm(calls: list, user: TgUser):  # noqa: ANN202
    """The user's message with a Confirm button, and that button's data (or None)."""
    for call in calls:
        if call.chat_id != user.id:
            continue
        for b in call.buttons():
            if b.get("callback_data", "").startswith("r:confirm:"):
                return call, b["callback_data"]
    return None


async def _renter(tg: Harness, user: TgUser, listing: int) -> None:
    """Rent a listing that two others want too (a lost race offers the next best, which is
    taken), use it, stop it."""
    quote = _confirm(await tg.send(user, f"/rent #{listing} 1h"), user)
    for _ in range(ATTEMPTS):
        if quote is None:  # every GPU is taken right now
            return
        quote = _confirm(await tg.press_data(user, *quote), user)
    await tg.app.settle()  # the wallet pays, the escrow opens, the agent grants
    status = "\n".join(c.text for c in await tg.send(user, "/status") if c.chat_id == user.id)
    if "· active" in status:
        await tg.send(user, "/stop")
        await tg.app.settle()


async def test_renters_far_beyond_capacity_leave_consistent_rentals_and_exact_books(
    tg_settings, clock
):
    app = build_app(tg_settings, clock=clock, auto_approve=True)
    await app.start()
    listings = []
    for i in range(GPUS):
        _, machine_id = await add_provider(app, f"p{i}", ["rtx4090"], 300_000 + i * 1000)
        async with app.uow(readonly=True) as uow:
            listings += [x.id for x in await uow.listings.for_machine(machine_id)]
    steady = app.bus.write  # the one transaction that records chain events
    app.bus.write = flaky(steady, every=3)
    app.bus.mirror.retry_s = (0.05, 0.1)  # short: some give up and wait for the keeper
    tg = Harness(app)
    await tg.start()
    users = [TgUser(60_000 + i, f"renter{i}") for i in range(RENTERS)]
    try:
        await asyncio.gather(*(tg.send(u, "/connect") for u in users))
        await app.settle()  # every development wallet is linked
        await asyncio.gather(
            *(_renter(tg, u, listings[i % len(listings)]) for i, u in enumerate(users))
        )
        await tg.deliver()
        app.bus.write = steady  # the load is over: the database is well again
        # holds and quotes lapse, the keeper repairs what a failed write left half-done,
        # prepaid hours run out, then the challenge windows close: everything comes to rest
        window = app.escrow.challenge_window + 60
        for seconds in (2 * 3600, 2 * 3600, window, window):
            clock.advance(seconds)
            for _ in range(2):
                await app.keeper.tick()
                await tg.deliver()
        books = await audit(app)
    finally:
        await tg.close()
        await app.close()
    assert app.admission.peak_in_flight <= app.admission.limit < RENTERS
    assert books.settled >= GPUS // 2, books.summary()  # the load did rent and settle
    assert books.ok, books.summary()
