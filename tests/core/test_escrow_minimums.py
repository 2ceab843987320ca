"""Nothing the escrow would refuse is quoted or signed: its minimum deposit and minimum
prepaid time (read from the escrow; its owner may change them) at /rent and at confirm, and
an extension after the prepaid time ran out. The real contract's getters are checked in
tests/contracts/test_held_payouts_devchain.py."""

from __future__ import annotations

import pytest

from bot.common.i18n import error_text
from core.domain.listings import ListingQuery
from core.domain.rentals import LIVE, RentalState
from core.errors import Conflict, ValidationError
from core.services.escrow_rules import shortest_for_deposit
from tests.support import add_provider, gpu_holders, paid_quote, renter

CHEAP = 400_000  # $0.40/h: ten minutes cost 0.066667 USDC


async def _rentals(app) -> list:
    async with app.rentals.uow(readonly=True) as uow:
        return list(await uow.rentals.in_states(list(RentalState)))


async def test_a_deposit_below_the_minimum_is_refused_at_the_quote(app):
    await add_provider(app, "prov", ["rtx4090", "rtx4090"], CHEAP)
    alice = await renter(app)
    assert (await app.escrow.minimums()).min_deposit == 100_000  # 0.1 USDC, as on the dev chain
    with pytest.raises(ValidationError) as exc:
        await app.market.quote(alice, ListingQuery(model="rtx4090"), 600)
    assert exc.value.user_message == (
        "The smallest deposit the escrow takes is 0.100000 USDC; this rental comes to "
        "0.066667 USDC. Rent longer (at least 15m at this price) or more GPUs."
    )
    assert "kleinste Kaution, die der Escrow annimmt, ist 0,100000 USDC" in error_text(
        "de", exc.value
    )
    assert await _rentals(app) == []  # nothing quoted, nothing held
    # either way out works
    assert (await app.market.quote(alice, ListingQuery(model="rtx4090"), 900)).deposit == 100_000
    two = await app.market.quote(alice, ListingQuery(model="rtx4090", gpu_count=2), 600)
    assert two.deposit == 133_334

    app.escrow.set_minimums(1_000_000, 600)  # a production deployment's 1 USDC
    with pytest.raises(ValidationError, match="smallest deposit the escrow takes is 1.00 USDC"):
        await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    assert (await app.market.quote(alice, ListingQuery(model="rtx4090"), 9000)).deposit == 10**6


async def test_a_prepaid_time_below_the_minimum_is_refused_at_the_quote(app):
    await add_provider(app, "prov", ["h100"], 3_000_000)
    alice = await renter(app)
    app.escrow.set_minimums(100_000, 900)
    with pytest.raises(ValidationError) as exc:
        await app.market.quote(alice, ListingQuery(model="h100"), 600)
    assert exc.value.user_message == "The shortest rental is 15m: rent at least that long."
    assert error_text("de", exc.value) == ("Die kürzeste Miete ist 15m: miete mindestens so lange.")
    assert (await app.market.quote(alice, ListingQuery(model="h100"), 900)).duration_s == 900


async def test_minimums_raised_after_the_quote_stop_the_confirm_before_any_signature(app):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], CHEAP)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    app.escrow.set_minimums(1_000_000, 600)
    with pytest.raises(ValidationError, match="smallest deposit"):
        await app.rentals.confirm(alice, quote.rental_id)
    assert app.wallet.pending == {}  # nothing to sign
    (rental,) = await _rentals(app)
    assert rental.state == RentalState.CANCELLED
    assert await gpu_holders(app, quote.offer.listing_id) == [None]


async def test_an_extension_after_the_prepaid_time_ran_out_is_refused_unsigned(app, clock):
    await add_provider(app, "prov", ["rtx4090"], CHEAP)
    alice, quote = await paid_quote(app)
    clock.advance(3600)  # paidUntil passed; the keeper has not stopped it yet
    with pytest.raises(Conflict, match="prepaid time has run out"):
        await app.rentals.extend(alice, None, 3600)
    assert app.wallet.pending == {}
    async with app.rentals.uow(readonly=True) as uow:
        (rental,) = await uow.rentals.in_states(LIVE)
    assert rental.state == RentalState.ACTIVE  # the keeper stops it; nothing else changed


def test_the_shortest_duration_for_a_deposit_is_never_short():
    for minimum in (1, 99_999, 100_000, 1_000_000):
        for price in (1, 7, 400_000, 650_000, 3_333_333):
            seconds = shortest_for_deposit(minimum, price)
            assert seconds % 60 == 0
            assert -(-seconds * price // 3600) >= minimum
            assert -(-(seconds - 60) * price // 3600) < minimum or seconds == 60
