"""100 renters confirm the last free RTX 4090 at the same moment: exactly one gets it."""

from __future__ import annotations

import asyncio

from core.domain.listings import ListingQuery, ListingStatus
from core.domain.rentals import RentalState
from core.errors import JustTaken
from core.services.views import PaymentPendingView
from tests.support import add_provider, renter

N = 100


async def test_hundred_concurrent_confirmations_one_rental(app):
    await add_provider(app, "cheap", ["rtx4090"], 500_000)
    await add_provider(app, "dear", ["rtx4090"], 900_000)
    renters = [await renter(app, f"r{i}") for i in range(N)]
    quotes = [await app.market.quote(who, ListingQuery(model="rtx4090"), 3600) for who in renters]
    target = quotes[0].offer.listing_id
    assert {q.offer.listing_id for q in quotes} == {target}  # all quoted the cheap one

    results = await asyncio.gather(
        *(app.rentals.confirm(who, q.rental_id) for who, q in zip(renters, quotes, strict=True)),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, PaymentPendingView)]
    taken = [r for r in results if isinstance(r, JustTaken)]
    assert len(winners) == 1, [type(r).__name__ for r in results if not isinstance(r, JustTaken)]
    assert len(taken) == N - 1
    assert all("Just taken" in e.user_message for e in taken)
    # every loser is offered the next best GPU, not the one that is gone
    assert {e.next_best.offer.listing_id for e in taken} == {quotes[0].offer.listing_id + 1}

    async with app.rentals.uow(readonly=True) as uow:
        listing = await uow.listings.get(target)
        assert listing.status == ListingStatus.HELD
        assert listing.held_by_rental_id == winners[0].rental_id
        held = [await uow.rentals.get(q.rental_id) for q in quotes]
    states = sorted(r.state for r in held)
    assert states.count(RentalState.AWAITING_PAYMENT) == 1
    assert states.count(RentalState.CANCELLED) == N - 1
