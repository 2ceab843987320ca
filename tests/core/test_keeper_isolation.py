"""One bad record or one failing rental never stops the keeper for anybody else."""

from __future__ import annotations

import logging

from core.db import tables
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from tests.support import add_provider, plant_damaged, rental_row, renter

PRICE = 650_000


async def _rent(app, who: str, model: str) -> tuple[object, int]:
    person = await renter(app, who)
    quote = await app.market.quote(person, ListingQuery(model=model), 3600)
    await app.rentals.confirm(person, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    return person, quote.rental_id


async def _dispute(app, who) -> None:
    await app.rentals.dispute(who, None, "the GPU vanished")
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()


async def _three_rentals(app, clock):
    """A disputed rental on a hostile host, one on an honest host, and a paid rental that the
    third provider never provisions: on one keeper pass two disputes and a refund are due."""
    _, evil_machine = await add_provider(app, "evil", ["rtx4090"], PRICE)
    await add_provider(app, "good", ["h100"], PRICE)
    await add_provider(app, "idle", ["l4"], PRICE)
    alice, poisoned = await _rent(app, "alice", "rtx4090")
    bob, honest = await _rent(app, "bob", "h100")
    app.agent_gateway.auto_grant = False
    _, unprovisioned = await _rent(app, "carol", "l4")
    assert (await rental_row(app, unprovisioned)).state == RentalState.PROVISIONING
    clock.advance(120)
    await _dispute(app, alice)
    await _dispute(app, bob)
    return evil_machine, poisoned, honest, unprovisioned


async def test_a_bad_evidence_row_is_skipped_and_the_keeper_serves_everybody(app, clock, caplog):
    evil_machine, poisoned, honest, unprovisioned = await _three_rentals(app, clock)
    # what a hostile agent could store before evidence was checked at the edge (old rows)
    now = clock.now()
    async with app.agents.uow() as uow:
        for text in ('{"source":"service","from":"yesterday","to":5}', "{not json", "[1]"):
            await plant_damaged(
                uow,
                tables.agent_evidence,
                machine_id=evil_machine,
                rental_id=poisoned,
                kind="heartbeat_gap",
                at=now,
                received_at=now,
                data_json=text,
            )
        await uow.commit()
    clock.advance(app.rentals.rules.accept_timeout_s)  # past the arbiter delay too
    with caplog.at_level(logging.WARNING):
        counts = await app.keeper.tick()
    assert (counts["decided"], counts["refunded"]) == (2, 1)
    assert (await rental_row(app, poisoned)).state == RentalState.RESOLVED
    assert (await rental_row(app, honest)).state == RentalState.RESOLVED
    r = await rental_row(app, unprovisioned)
    assert r.state == RentalState.CANCELLED and r.refund == r.deposit
    skipped = [m for m in caplog.messages if f"of rental {poisoned}" in m and "evidence" in m]
    assert len(skipped) == 3, caplog.messages  # each bad row named by its id


async def test_a_rental_whose_step_raises_is_benched_and_the_others_go_on(
    app, clock, caplog, monkeypatch
):
    _, poisoned, honest, unprovisioned = await _three_rentals(app, clock)
    resolve = app.escrow.resolve
    calls = []

    async def resolve_but_not_the_poisoned_one(escrow_id, provider_gross):
        calls.append(escrow_id)
        if escrow_id == (await rental_row(app, poisoned)).escrow_id:
            raise RuntimeError("a bug that only this rental hits")
        return await resolve(escrow_id, provider_gross)

    monkeypatch.setattr(app.escrow, "resolve", resolve_but_not_the_poisoned_one)
    clock.advance(app.rentals.rules.accept_timeout_s)
    with caplog.at_level(logging.ERROR):
        counts = await app.keeper.tick()
    assert (counts["decided"], counts["refunded"]) == (1, 1)
    assert (await rental_row(app, honest)).state == RentalState.RESOLVED
    assert (await rental_row(app, unprovisioned)).state == RentalState.CANCELLED
    assert (await rental_row(app, poisoned)).state == RentalState.DISPUTED
    [failure] = [r for r in caplog.records if "reference keeper-" in r.getMessage()]
    assert f"rental {poisoned}" in failure.getMessage() and failure.exc_info

    # benched: the next passes do not hammer it; after the bench it is tried again
    tried = len(calls)
    await app.keeper.tick()
    assert len(calls) == tried
    clock.advance(31)
    await app.keeper.tick()
    assert len(calls) == tried + 1
    monkeypatch.setattr(app.escrow, "resolve", resolve)
    clock.advance(61)  # the second failure benched it for twice as long
    assert (await app.keeper.tick())["decided"] == 1
    assert (await rental_row(app, poisoned)).state == RentalState.RESOLVED
