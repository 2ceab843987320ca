"""Rental service unit tests (confirm, cancel, extend, stop, dispute, rate, status) on the
in-memory unit of work and on SQLite, with the in-memory escrow and wallet and no chain: what
a payment or a grant would do is written to the rental row by hand where a test needs it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.background import Background
from core.domain.billing import deposit_for, paid_seconds
from core.domain.listings import ListingQuery, ListingStatus
from core.domain.rentals import RentalState as S
from core.errors import Conflict, Forbidden, JustTaken, NotFound, ValidationError, WalletError
from core.services.base import MarketRules
from core.services.market import MarketService
from core.services.rental_rules import NOT_PAID_IN_TIME, cancel_unpaid
from core.services.rentals import RentalService
from core.services.requests import answering
from core.services.views import PaymentPendingView, Principal, WalletLinkView
from core.services.wallets import WalletService
from rigshare_dev.fakes.escrow import FakeEscrow
from rigshare_dev.fakes.wallet import FakeWallet, dev_address
from tests.core.service_units import free_gpus, holders, host, user

HOUR = 3600
PRICE = 600_000


@pytest.fixture
def svc(uow, clock) -> SimpleNamespace:
    rules = MarketRules()
    escrow, wallet = FakeEscrow(clock), FakeWallet(Background())
    market = MarketService(uow, clock, rules, escrow=escrow)
    wallets = WalletService(uow, clock, rules, wallet=wallet, escrow=escrow)
    rentals = RentalService(
        uow, clock, rules, market=market, escrow=escrow, wallet=wallet, wallets=wallets
    )
    return SimpleNamespace(market=market, rentals=rentals, escrow=escrow, wallet=wallet)


async def _renter(uow, clock, name: str = "ann", *, wallet: bool = True) -> Principal:
    return Principal(await user(uow, clock, name, wallet=wallet), "terminal")


async def _rental(uow, rental_id: int):
    async with uow(readonly=True) as tx:
        return await tx.rentals.get(rental_id)


async def _requests(uow, clock) -> list[tuple[str, int | None]]:
    """(kind, rental id) of every request still waiting for a wallet, oldest first."""
    async with uow(readonly=True) as tx:
        waiting = await tx.signatures.expired(clock.now() + 10 * 365 * 86_400)
    return [(p.kind, p.rental_id) for p in waiting]


async def _started(uow, clock, rental_id: int) -> None:
    """What the signed payment and the agent's grant would record: the open request is
    signed, the rental runs, its GPUs are kept until it ends, its deposit pays until
    ``paid_until``."""
    async with uow() as tx:
        r = await tx.rentals.get(rental_id)
        signed = await tx.signatures.waiting_for(rental_id, "open", clock.now())
        assert signed.sign(clock.now())
        r.transition(S.FUNDED)
        r.transition(S.ACTIVE)
        r.funded_at = r.started_at = clock.now()
        r.paid_until = r.started_at + paid_seconds(r.deposit, r.price_per_hour)
        assert await tx.gpus.keep(rental_id) == r.gpu_count
        await tx.commit()


async def _active(uow, clock, svc, who: Principal) -> int:
    quote = await svc.market.quote(who, ListingQuery(model="rtx4090"), 3 * HOUR)
    await svc.rentals.confirm(who, quote.rental_id)
    await _started(uow, clock, quote.rental_id)
    return quote.rental_id


async def test_confirm_holds_the_quoted_gpus_and_asks_the_wallet(uow, clock, svc):
    quad = await host(uow, clock, "quad", model="h100", gpus=4, price=2_000_000)
    ann = await _renter(uow, clock)
    quote = await svc.market.quote(ann, ListingQuery(model="h100", gpu_count=2), HOUR)
    pay = await svc.rentals.confirm(ann, quote.rental_id)
    assert isinstance(pay, PaymentPendingView) and pay.deposit == 4_000_000
    r = await _rental(uow, quote.rental_id)
    assert r.state == S.AWAITING_PAYMENT and r.hold_until == pay.expires_at
    assert r.gpu_uuids == list(quad.gpu_uuids[:2])
    assert r.renter_address == dev_address(ann.user_id) and r.escrow_id.startswith("0x")
    assert await holders(uow, quad.machine_id) == [r.id, r.id, None, None]
    assert await free_gpus(uow, quad.listing_id) == (2, 2)
    [token] = svc.wallet.pending
    async with uow(readonly=True) as tx:
        asked = await tx.signatures.get_by_token(token)
    assert (asked.kind, asked.rental_id, asked.expires_at) == ("open", r.id, pay.expires_at)
    with pytest.raises(Conflict) as again:
        await svc.rentals.confirm(ann, quote.rental_id)
    assert again.value.key == "rentals.quote_used"
    assert await free_gpus(uow, quad.listing_id) == (2, 2)  # nothing held twice


async def test_the_second_renter_of_the_last_gpu_is_offered_the_next_best(uow, clock, svc):
    cheap = await host(uow, clock, "cheap", price=PRICE)
    dear = await host(uow, clock, "dear", price=2 * PRICE)
    ann, bob = await _renter(uow, clock, "ann"), await _renter(uow, clock, "bob")
    first = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    second = await svc.market.quote(bob, ListingQuery(model="rtx4090"), HOUR)
    assert first.offer.listing_id == second.offer.listing_id == cheap.listing_id
    await svc.rentals.confirm(ann, first.rental_id)
    with pytest.raises(JustTaken) as taken:
        await svc.rentals.confirm(bob, second.rental_id)
    nxt = taken.value.next_best
    assert taken.value.key == "rentals.just_taken"
    assert nxt.offer.listing_id == dear.listing_id and nxt.rental_id != second.rental_id
    lost = await _rental(uow, second.rental_id)
    assert (lost.state, lost.cancel_reason, lost.gpu_uuids) == (
        S.CANCELLED,
        "listing taken",
        [],
    )
    assert (await _rental(uow, nxt.rental_id)).state == S.QUOTED
    assert await holders(uow, cheap.machine_id) == [first.rental_id]
    assert await holders(uow, dear.machine_id) == [None]  # a quote holds nothing


async def test_a_quote_on_a_listing_its_host_withdrew_says_so(uow, clock, svc):
    gone = await host(uow, clock, "gone", price=PRICE)
    other = await host(uow, clock, "other", price=2 * PRICE)
    ann = await _renter(uow, clock, "ann")
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert quote.offer.listing_id == gone.listing_id
    async with uow() as tx:  # the host paused it after the quote (/pause, /removemachine)
        (await tx.listings.get(gone.listing_id)).move_to(ListingStatus.PAUSED)
        await tx.commit()
    with pytest.raises(JustTaken) as withdrawn:
        await svc.rentals.confirm(ann, quote.rental_id)
    assert withdrawn.value.key == "rentals.listing_withdrawn"  # not "someone else was first"
    assert withdrawn.value.next_best.offer.listing_id == other.listing_id
    lost = await _rental(uow, quote.rental_id)
    assert (lost.state, lost.cancel_reason) == (S.CANCELLED, "listing withdrawn")


async def test_an_expired_quote_and_a_lapsed_hold_release_everything(uow, clock, svc):
    one = await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    clock.advance(svc.rentals.rules.quote_ttl_s + 1)
    with pytest.raises(Conflict) as expired:
        await svc.rentals.confirm(ann, quote.rental_id)
    assert expired.value.key == "rentals.quote_expired"
    assert (await _rental(uow, quote.rental_id)).state == S.CANCELLED
    assert await holders(uow, one.machine_id) == [None]

    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    pay = await svc.rentals.confirm(ann, quote.rental_id)
    clock.advance(svc.rentals.rules.payment_hold_s + 1)
    async with uow() as tx:  # the keeper's first step: unpaid holds past their end
        for r in await tx.rentals.in_states([S.QUOTED, S.AWAITING_PAYMENT]):
            if (r.hold_until or r.quote_expires_at) < clock.now():
                await cancel_unpaid(tx, r, NOT_PAID_IN_TIME)
        await tx.commit()
    assert pay.expires_at < clock.now()
    assert await holders(uow, one.machine_id) == [None]
    assert await free_gpus(uow, one.listing_id) == (1, 1)
    with pytest.raises(Conflict) as lapsed:
        await svc.rentals.cancel_quote(ann, quote.rental_id)
    assert lapsed.value.key == "rentals.quote_expired"
    again = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    assert again.offer.listing_id == one.listing_id


async def test_cancel_releases_a_hold_once(uow, clock, svc):
    one = await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    await svc.rentals.confirm(ann, quote.rental_id)
    notice = await svc.rentals.cancel_quote(ann, quote.rental_id)
    assert notice.key == "quote.cancelled"
    r = await _rental(uow, quote.rental_id)
    assert (r.state, r.cancel_reason) == (S.CANCELLED, "cancelled by renter")
    assert await free_gpus(uow, one.listing_id) == (1, 1)
    with pytest.raises(Conflict) as twice:
        await svc.rentals.cancel_quote(ann, quote.rental_id)
    assert twice.value.key == "rentals.state.cancelled"
    assert await free_gpus(uow, one.listing_id) == (1, 1)  # released once, not twice


async def test_only_its_renter_cancels_a_quote_and_only_once(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann, bob = await _renter(uow, clock), await _renter(uow, clock, "bob")
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    with pytest.raises(Forbidden):
        await svc.rentals.cancel_quote(bob, quote.rental_id)
    assert (await _rental(uow, quote.rental_id)).state == S.QUOTED  # bob changed nothing
    with pytest.raises(NotFound):
        await svc.rentals.cancel_quote(ann, quote.rental_id + 1000)
    notice = await svc.rentals.cancel_quote(ann, quote.rental_id)
    assert (notice.key, notice.params) == ("quote.cancelled", {"rental_id": quote.rental_id})
    r = await _rental(uow, quote.rental_id)
    assert (r.state, r.cancel_reason) == (S.CANCELLED, "cancelled by renter")
    with pytest.raises(Conflict) as twice:
        await svc.rentals.cancel_quote(ann, quote.rental_id)
    assert twice.value.key == "rentals.state.cancelled"


async def test_a_cancel_after_the_quote_was_confirmed_leaves_the_confirmation(uow, clock, svc):
    """The plain quote's cancel is conditional on the rental still being a quote: one that
    was confirmed (holding GPUs) in between is not cancelled as a plain quote."""
    one = await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    await svc.rentals.confirm(ann, quote.rental_id)
    async with uow(one_statement=True) as tx:
        assert not await tx.rentals.cancel_quoted(quote.rental_id, ann.user_id, "x")
        await tx.commit()
    r = await _rental(uow, quote.rental_id)
    assert (r.state, r.cancel_reason) == (S.AWAITING_PAYMENT, None)
    assert await free_gpus(uow, one.listing_id) == (0, 0)  # still held


async def test_without_a_wallet_a_confirm_links_one_first_and_holds_nothing(uow, clock, svc):
    one = await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock, wallet=False)
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    link = await svc.rentals.confirm(ann, quote.rental_id)
    assert isinstance(link, WalletLinkView) and link.rental_id == quote.rental_id
    assert (await _rental(uow, quote.rental_id)).state == S.QUOTED
    assert await holders(uow, one.machine_id) == [None]
    assert await _requests(uow, clock) == [("connect", None)]


async def test_an_unreachable_wallet_or_raised_minimums_leave_nothing_held(uow, clock, svc):
    one = await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    svc.wallet.unreachable = True
    with pytest.raises(WalletError):
        await svc.rentals.confirm(ann, quote.rental_id)
    r = await _rental(uow, quote.rental_id)
    assert (r.state, r.cancel_reason) == (S.CANCELLED, "wallet unreachable")
    assert await free_gpus(uow, one.listing_id) == (1, 1)
    svc.wallet.unreachable = False
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    svc.escrow.set_minimums(10 * PRICE, 600)  # the owner raised them after the quote
    with pytest.raises(ValidationError) as small:
        await svc.rentals.confirm(ann, quote.rental_id)
    assert small.value.key == "market.min_deposit"
    r = await _rental(uow, quote.rental_id)
    assert (r.state, r.cancel_reason) == (S.CANCELLED, "below the escrow's minimums")
    assert await holders(uow, one.machine_id) == [None]


async def test_someone_elses_unknown_and_malformed_rentals_are_refused(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann, bob = await _renter(uow, clock, "ann"), await _renter(uow, clock, "bob")
    quote = await svc.market.quote(ann, ListingQuery(model="rtx4090"), HOUR)
    with pytest.raises(Forbidden):
        await svc.rentals.confirm(bob, quote.rental_id)
    with pytest.raises(NotFound):
        await svc.rentals.confirm(ann, 999_999)
    with pytest.raises(NotFound):
        await svc.rentals.status(bob, None)
    with pytest.raises(ValidationError):
        await svc.rentals.status(ann, "12x")
    assert (await _rental(uow, quote.rental_id)).state == S.QUOTED


async def test_status_and_recent_show_the_running_rental(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    rental_id = await _active(uow, clock, svc, ann)
    clock.advance(HOUR)
    view = await svc.rentals.status(ann, None)
    assert (view.rental_id, view.state, view.cost_so_far) == (rental_id, S.ACTIVE, PRICE)
    assert view.remaining_s == 2 * HOUR and len(view.gpu_uuids) == 1
    assert [r.rental_id for r in await svc.rentals.recent(ann)] == [rental_id]


async def test_extend_asks_for_a_top_up_until_the_prepaid_time_ran_out(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    rental_id = await _active(uow, clock, svc, ann)
    pay = await svc.rentals.extend(ann, None, 2 * HOUR)
    assert (pay.rental_id, pay.deposit) == (rental_id, deposit_for(2 * HOUR, PRICE))
    assert await _requests(uow, clock) == [("extend", rental_id)]
    clock.advance(3 * HOUR)
    with pytest.raises(Conflict) as late:
        await svc.rentals.extend(ann, str(rental_id), HOUR)
    assert late.value.key == "rentals.extend_too_late"
    assert [k for k, _ in await _requests(uow, clock)] == ["extend"]


async def test_a_second_stop_asks_for_the_same_signature(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    rental_id = await _active(uow, clock, svc, ann)
    first = await svc.rentals.stop(ann, None)
    clock.advance(5)
    again = await svc.rentals.stop(ann, str(rental_id))
    assert (again.url, again.expires_at) == (first.url, first.expires_at)
    assert await _requests(uow, clock) == [("stop", rental_id)]


async def test_dispute_needs_a_reason_and_a_rating_is_given_once(uow, clock, svc):
    await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    rental_id = await _active(uow, clock, svc, ann)
    with pytest.raises(ValidationError):
        await svc.rentals.dispute(ann, None, "  ")
    await svc.rentals.dispute(ann, None, "GPU fell off the bus")
    assert (await _rental(uow, rental_id)).dispute_reason == "GPU fell off the bus"
    assert ("dispute", rental_id) in await _requests(uow, clock)
    with pytest.raises(Conflict):
        await svc.rentals.rate(ann, str(rental_id), 5, None)  # still running
    async with uow() as tx:
        (await tx.rentals.get(rental_id)).transition(S.ENDED)
        await tx.commit()
    with pytest.raises(ValidationError):
        await svc.rentals.rate(ann, None, 6, None)
    assert (await svc.rentals.rate(ann, None, 4, "fast")).key == "rate.thanks"
    with pytest.raises(Conflict):
        await svc.rentals.rate(ann, None, 5, None)
    r = await _rental(uow, rental_id)
    assert (r.rating, r.rating_comment) == (4, "fast")


async def test_a_dispute_asked_again_under_the_same_request_asks_once(uow, clock, svc):
    # the same chat message handled again after a crash (core/services/repeats.py)
    await host(uow, clock, "one", price=PRICE)
    ann = await _renter(uow, clock)
    rental_id = await _active(uow, clock, svc, ann)
    with answering("telegram:1:5"):
        first = await svc.rentals.dispute(ann, None, "GPU fell off the bus")
        clock.advance(5)
        again = await svc.rentals.dispute(ann, None, "GPU fell off the bus")
    assert (again.url, again.expires_at) == (first.url, first.expires_at)
    assert await _requests(uow, clock) == [("dispute", rental_id)]
    with answering("telegram:1:6"):  # another message: another request
        await svc.rentals.dispute(ann, None, "still broken")
    assert await _requests(uow, clock) == [("dispute", rental_id)] * 2
