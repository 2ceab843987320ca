"""An update handled again after a crash repeats no quote.

Telegram delivers an update until a process marks it handled; a process that dies after the
update's quote committed but before the mark leaves it to be handled again after the restart
(its claim's lease runs out). The second handling must answer with the same quote, not make a
second one. Simulated here by putting the ledger's row back as the crash leaves it (claimed,
never marked handled, its lease over) and feeding the same update again: the claim takes it
over, so the services look for what the first handling made.
"""

from __future__ import annotations

import itertools

from sqlalchemy import func, select, update

from core.db import tables
from tests.bot.telegram.support import ALICE, texts
from tests.bot.telegram.test_renter_flow import rent_until_active


async def _rentals(app) -> int:
    async with app.db.read.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(tables.rentals))


async def _forget_the_update(tg, update_id: int) -> None:  # noqa: ANN001 - the harness
    """The done mark never written, the claimer's lease run out."""
    await tg.front.once.flush()  # the mark the first handling queued: undone below
    async with tg.app.db.write.begin() as conn:
        u = tables.processed_updates.c
        await conn.execute(
            update(tables.processed_updates)
            .where(u.update_id == update_id)
            .values(done_at=None, claimed_until=0)
        )


async def test_a_rent_update_handled_again_answers_with_the_same_quote(tg):
    before = await _rentals(tg.app)
    tg._update_ids = itertools.repeat(777)  # every update fed from here on has id 777
    (first,) = await tg.send(ALICE, "/rent 4090 3h")
    assert "Quote #" in first.text
    await _forget_the_update(tg, 777)
    (again,) = await tg.send(ALICE, "/rent 4090 3h")
    assert again.text.splitlines()[0] == first.text.splitlines()[0]  # the same quote number
    assert await _rentals(tg.app) == before + 1

    tg._update_ids = itertools.count(1000)  # a new update is a new request: a new quote
    (other,) = await tg.send(ALICE, "/rent 4090 3h")
    assert other.text.splitlines()[0] != first.text.splitlines()[0]
    assert await _rentals(tg.app) == before + 2


async def test_a_rent_update_handled_again_after_its_quote_closed_quotes_afresh(tg):
    # the quote the first handling made was cancelled before the update came again: the
    # request's key is spent, so the fresh quote is made without it (no unique-key clash)
    tg._update_ids = itertools.repeat(778)
    (first,) = await tg.send(ALICE, "/rent 4090 3h")
    quote_no = first.text.splitlines()[0]
    async with tg.app.db.write.begin() as conn:
        r = tables.rentals.c
        await conn.execute(
            tables.rentals.update().where(r.request_key.is_not(None)).values(state="cancelled")
        )
    await _forget_the_update(tg, 778)
    (again,) = await tg.send(ALICE, "/rent 4090 3h")
    assert "Quote #" in again.text and again.text.splitlines()[0] != quote_no
    async with tg.app.db.read.connect() as conn:
        keys = (await conn.execute(select(tables.rentals.c.request_key))).scalars().all()
    assert sorted(k is not None for k in keys) == [False, True]  # one key, on the first quote


async def _signature_requests(app, kind: str) -> list[tuple[str, str]]:
    async with app.db.read.connect() as conn:
        t = tables.pending_signatures.c
        rows = await conn.execute(select(t.token, t.status).where(t.kind == kind))
        return [tuple(row) for row in rows]


async def test_an_extend_update_handled_again_asks_the_wallet_once(tg):
    await rent_until_active(tg)
    tg.app.wallet.auto_approve = False  # the renter has not answered the wallet yet
    tg._update_ids = itertools.repeat(779)
    first = texts(await tg.send(ALICE, "/extend 1h"))
    ((token, status),) = await _signature_requests(tg.app, "extend")
    assert status == "pending" and "0.35 USDC" in first
    await _forget_the_update(tg, 779)
    again = texts(await tg.send(ALICE, "/extend 1h"))
    assert await _signature_requests(tg.app, "extend") == [(token, "pending")]
    assert again == first  # the same amount, link and deadline

    await tg.app.wallet.approve(token)  # answered: the message counts as answered
    await _forget_the_update(tg, 779)
    third = texts(await tg.send(ALICE, "/extend 1h"))
    assert "already answered" in third
    assert await _signature_requests(tg.app, "extend") == [(token, "signed")]

    tg._update_ids = itertools.count(2000)  # a new message is a new request
    await tg.send(ALICE, "/extend 1h")
    assert len(await _signature_requests(tg.app, "extend")) == 2
