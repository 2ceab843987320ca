"""A restarted process hands the development wallet the requests it had not answered when the
previous process died (``rigshare_dev.recovery``), so a confirm or a stop is not lost with it."""

from __future__ import annotations

from bot.bootstrap import build_app
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from rigshare_dev.recovery import resume_wallet_requests
from tests.support import add_provider, renter


async def _state(app, rental_id: int) -> str:
    async with app.uow(readonly=True) as uow:
        return (await uow.rentals.get(rental_id)).state


async def test_unanswered_requests_are_answered_after_a_restart(app, settings, clock):
    await add_provider(app, "hal", ["rtx4090"], 400_000)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)  # the wallet never answers: it died
    assert app.wallet.pending and await _state(app, quote.rental_id) == S.AWAITING_PAYMENT

    restarted = build_app(settings, clock=clock, auto_approve=True)
    await restarted.start()
    try:
        assert await resume_wallet_requests(restarted) == 0  # too fresh: a live process's
        clock.advance(5)
        assert await resume_wallet_requests(restarted) == 1
        await restarted.settle()
        assert await _state(restarted, quote.rental_id) in (S.PROVISIONING, S.ACTIVE)
        assert await resume_wallet_requests(restarted) == 0  # answered: nothing left
        clock.advance(app.rentals.rules.payment_hold_s + 1)
        assert await resume_wallet_requests(restarted) == 0
    finally:
        await restarted.close()


async def test_a_wallet_that_asks_the_person_is_left_alone(app, clock):
    await add_provider(app, "hal", ["rtx4090"], 400_000)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    clock.advance(5)
    assert not app.wallet.auto_approve
    assert await resume_wallet_requests(app) == 0
    assert await _state(app, quote.rental_id) == S.AWAITING_PAYMENT
