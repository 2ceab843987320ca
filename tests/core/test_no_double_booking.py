"""No GPU is ever in two rentals: holding a rental's GPUs is one conditional write.

100 renters confirm the last free RTX 4090 at the same moment: exactly one gets it. 100 renters
confirm one GPU each of a 4-GPU machine: exactly four do, each with a different GPU; renters
of one and of two GPUs racing for the same machine never over-assign it. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio

from core.domain.listings import ListingQuery
from core.domain.rentals import LIVE, RentalState
from core.errors import JustTaken
from core.services.views import PaymentPendingView
from tests.support import add_provider, renter

N = 100


async def _gpu_rows(app, machine_id: int):
    async with app.rentals.uow(readonly=True) as uow:
        return list(await uow.gpus.for_machine(machine_id))


async def _live_holdings(app, rental_ids) -> dict[int, list[str]]:
    async with app.rentals.uow(readonly=True) as uow:
        rentals = [await uow.rentals.get(i) for i in rental_ids]
    return {r.id: r.gpu_uuids for r in rentals if r.state in LIVE}


async def _race(app, renters, quotes):
    return await asyncio.gather(
        *(app.rentals.confirm(who, q.rental_id) for who, q in zip(renters, quotes, strict=True)),
        return_exceptions=True,
    )


async def test_hundred_concurrent_confirmations_one_rental(app):
    _, machine_id = await add_provider(app, "cheap", ["rtx4090"], 500_000)
    await add_provider(app, "dear", ["rtx4090"], 900_000)
    renters = [await renter(app, f"r{i}") for i in range(N)]
    quotes = [await app.market.quote(who, ListingQuery(model="rtx4090"), 3600) for who in renters]
    target = quotes[0].offer.listing_id
    assert {q.offer.listing_id for q in quotes} == {target}  # all quoted the cheap one

    results = await _race(app, renters, quotes)

    winners = [r for r in results if isinstance(r, PaymentPendingView)]
    taken = [r for r in results if isinstance(r, JustTaken)]
    assert len(winners) == 1, [type(r).__name__ for r in results if not isinstance(r, JustTaken)]
    assert len(taken) == N - 1
    assert all("Just taken" in e.user_message for e in taken)
    # every loser is offered the next best GPU, not the one that is gone
    assert {e.next_best.offer.listing_id for e in taken} == {quotes[0].offer.listing_id + 1}

    [gpu] = await _gpu_rows(app, machine_id)
    assert gpu.rental_id == winners[0].rental_id and gpu.hold_until is not None
    assert await _live_holdings(app, [q.rental_id for q in quotes]) == {
        winners[0].rental_id: [gpu.uuid]
    }
    async with app.rentals.uow(readonly=True) as uow:
        held = [await uow.rentals.get(q.rental_id) for q in quotes]
    states = sorted(r.state for r in held)
    assert states.count(RentalState.AWAITING_PAYMENT) == 1
    assert states.count(RentalState.CANCELLED) == N - 1


async def test_hundred_confirmations_over_a_four_gpu_machine_take_four_different_gpus(app):
    _, machine_id = await add_provider(app, "quad", ["h100"] * 4, 2_000_000)
    renters = [await renter(app, f"q{i}") for i in range(N)]
    quotes = [await app.market.quote(who, ListingQuery(model="h100"), 3600) for who in renters]
    assert {q.offer.listing_id for q in quotes} == {quotes[0].offer.listing_id}

    results = await _race(app, renters, quotes)

    winners = [r for r in results if isinstance(r, PaymentPendingView)]
    losers = [r for r in results if isinstance(r, JustTaken)]
    assert len(winners) == 4 and len(losers) == N - 4, [type(r).__name__ for r in results]
    holdings = await _live_holdings(app, [q.rental_id for q in quotes])
    assert set(holdings) == {w.rental_id for w in winners}
    uuids = [u for held in holdings.values() for u in held]
    rows = await _gpu_rows(app, machine_id)
    assert sorted(uuids) == sorted(g.uuid for g in rows)  # each GPU once, every GPU taken
    assert {g.uuid: g.rental_id for g in rows} == {
        u: rid for rid, held in holdings.items() for u in held
    }
    # the market knows: nothing of that machine is free now
    page = await app.market.search(renters[0], ListingQuery(model="h100"))
    assert page.offers == ()


async def test_one_and_two_gpu_renters_racing_for_four_gpus_never_over_assign(app):
    _, machine_id = await add_provider(app, "quad", ["h100"] * 4, 2_000_000)
    renters = [await renter(app, f"m{i}") for i in range(40)]
    quotes = [
        await app.market.quote(who, ListingQuery(model="h100", gpu_count=1 + i % 2), 3600)
        for i, who in enumerate(renters)
    ]

    results = await _race(app, renters, quotes)

    assert all(isinstance(r, PaymentPendingView | JustTaken) for r in results), results
    holdings = await _live_holdings(app, [q.rental_id for q in quotes])
    wanted = {q.rental_id: 1 + i % 2 for i, q in enumerate(quotes)}
    assert all(len(held) == wanted[rid] for rid, held in holdings.items())  # all or nothing
    uuids = [u for held in holdings.values() for u in held]
    assert len(uuids) == len(set(uuids)) <= 4
    rows = {g.uuid: g.rental_id for g in await _gpu_rows(app, machine_id)}
    assert all(rows[u] == rid for rid, held in holdings.items() for u in held)
    assert sum(1 for rid in rows.values() if rid is not None) == len(uuids)
