"""The whole rental lifecycle through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import tables
from core.domain.billing import deposit_for, paid_seconds, settle
from core.domain.listings import ListingQuery, ListingStatus
from core.domain.rentals import RentalState
from core.errors import Conflict, Forbidden, NoOffer, NotFound, WalletError
from core.services.views import WalletLinkView
from tests.support import add_provider, listing_row, paid_quote, rental_row, renter

PRICE = 650_000  # $0.65/h


async def _gpus(app, machine_id):
    """(uuid, holding rental, hold expiry) of each of the machine's GPUs."""
    async with app.rentals.uow(readonly=True) as uow:
        return [(g.uuid, g.rental_id, g.hold_until) for g in await uow.gpus.for_machine(machine_id)]


async def test_quote_confirm_pay_start_stop_settles_exactly(app, clock):
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)

    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3 * 3600)
    assert quote.deposit == deposit_for(3 * 3600, PRICE) == 1_950_000
    assert quote.offer.gpu_name == "RTX 4090"

    pay = await app.rentals.confirm(alice, quote.rental_id)
    assert pay.deposit == 1_950_000
    assert pay.url == f"http://127.0.0.1:8080/sign/{next(iter(app.wallet.pending))}"
    assert (await rental_row(app, quote.rental_id)).state == RentalState.AWAITING_PAYMENT
    # the listing stays offered; its one GPU is held by the rental until the payment hold ends
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    assert await _gpus(app, machine_id) == [("GPU-0000-rtx4090", quote.rental_id, pay.expires_at)]

    request_id = next(iter(app.wallet.pending))
    await app.wallet.approve(request_id)
    await app.settle()
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.ACTIVE
    assert r.started_at == clock.now()
    assert r.paid_until == clock.now() + paid_seconds(1_950_000, PRICE)
    assert r.access_username == "root"  # an instance: root inside its own container
    assert await _gpus(app, machine_id) == [("GPU-0000-rtx4090", r.id, None)]  # paid: kept
    grant = app.agent_gateway.granted[r.id]
    assert grant.instance.gpu_uuids == ["GPU-0000-rtx4090"]
    assert grant.instance.image == "docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04"
    assert grant.instance.limits.cpu_millis == 16_000  # the whole 1-GPU machine

    clock.advance(3600 + 17)
    await app.rentals.stop(alice, None)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    r = await rental_row(app, quote.rental_id)
    expected = settle(
        deposit=1_950_000,
        price_per_hour=PRICE,
        fee_bps=1200,
        started_at=r.started_at,
        ended_at=r.started_at + 3617,
        paid_until=r.paid_until,
    )
    assert r.state == RentalState.SETTLED
    assert (r.billed, r.fee, r.provider_net, r.refund) == (
        expected.billed,
        expected.fee,
        expected.provider_net,
        expected.refund,
    )
    assert r.billed == 3617 * PRICE // 3600 == 653_069
    assert r.provider_net + r.fee + r.refund == r.deposit
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    assert await _gpus(app, machine_id) == [("GPU-0000-rtx4090", None, None)]  # released
    assert app.agent_gateway.revoked == [r.id]

    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds == ["wallet_connected", "payment_seen", "private_key", "credentials", "receipt"]
    receipts = await app.receipts.list(alice, export_csv=True)
    assert receipts.receipts[0].billed == 653_069
    assert "653069" in receipts.csv


async def test_unpaid_hold_expires_and_releases_listing(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    clock.advance(app.rentals.rules.payment_hold_s + 1)
    counts = await app.keeper.tick()
    assert counts["expired_holds"] == 1
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    # a signature arriving late changes nothing
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    assert app.escrow.locked == 0


async def test_rejected_signature_cancels_and_releases(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.reject(next(iter(app.wallet.pending)))
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds == ["wallet_connected", "signature_failed"]


async def test_tampered_signature_is_refused_and_nothing_is_locked(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)), tamper=True)
    await app.settle()
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    assert app.escrow.locked == 0
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds == ["wallet_connected", "payment_failed"]


async def test_prepaid_time_runs_out_keeper_warns_then_settles(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice, quote = await paid_quote(app)
    clock.advance(3600 - 10 * 60)
    assert (await app.keeper.tick())["warned"] == 1
    await app.keeper.tick()  # the warning is not queued twice
    clock.advance(11 * 60)
    assert (await app.keeper.tick())["stopped"] == 1
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.ENDED and r.ended_at == r.paid_until  # the challenge window
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    clock.advance(app.escrow.challenge_window - 11 * 60)
    assert (await app.keeper.tick())["finalized"] == 0  # counted from the real end
    clock.advance(11 * 60)
    assert (await app.keeper.tick())["finalized"] == 1
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.SETTLED
    assert r.refund == 0 and r.billed == r.deposit == 650_000
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds.count("ending_soon") == 1 and kinds[-1] == "receipt"


async def test_dispute_is_signed_and_finalized_after_the_arbiter_timeout(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice, quote = await paid_quote(app)
    app.escrow.arbiter_available = False  # nobody decides: the time-based bill applies
    clock.advance(1200)
    pay = await app.rentals.dispute(alice, None, "GPU fell off the bus")
    assert pay.rental_id == quote.rental_id
    await app.wallet.approve(next(iter(app.wallet.pending)))
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.DISPUTED and r.ended_at == r.started_at + 1200
    assert r.dispute_reason == "GPU fell off the bus"
    clock.advance(app.escrow.arbiter_timeout - 1)
    assert (await app.keeper.tick())["finalized"] == 0
    clock.advance(1)
    assert (await app.keeper.tick())["finalized"] == 1
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.RESOLVED
    assert r.billed == 1200 * PRICE // 3600 and r.provider_net + r.fee + r.refund == r.deposit


async def test_extend_recomputes_paid_until_from_total_deposit(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice, quote = await paid_quote(app)
    clock.advance(600)
    await app.rentals.extend(alice, None, 2 * 3600)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    r = await rental_row(app, quote.rental_id)
    assert r.deposit == 650_000 + 1_300_000
    assert r.paid_until == r.started_at + paid_seconds(1_950_000, PRICE)


async def test_provider_never_provisions_full_refund(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    app.agent_gateway.auto_grant = False
    alice, quote = await paid_quote(app)
    assert (await rental_row(app, quote.rental_id)).state == RentalState.PROVISIONING
    clock.advance(app.rentals.rules.accept_timeout_s + 1)
    assert (await app.keeper.tick())["refunded"] == 1
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.CANCELLED and r.refund == r.deposit
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert "private_key" not in kinds and kinds[-1] == "refunded"


async def test_someone_elses_rental_and_bad_states(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice, bob = await renter(app, "alice"), await renter(app, "bob")
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    with pytest.raises(Forbidden):
        await app.rentals.confirm(bob, quote.rental_id)
    with pytest.raises(NotFound):
        await app.rentals.confirm(alice, 999_999)
    with pytest.raises(NotFound):
        await app.rentals.status(bob, None)
    with pytest.raises(NoOffer):
        await app.market.quote(alice, ListingQuery(model="h200"), 3600)
    await app.wallets.disconnect(alice)
    app.wallet.unreachable = True
    with pytest.raises(WalletError):
        await app.rentals.confirm(alice, quote.rental_id)
    app.wallet.unreachable = False
    link = await app.rentals.confirm(alice, quote.rental_id)  # no wallet: a connect, no hold
    assert isinstance(link, WalletLinkView) and link.rental_id == quote.rental_id
    assert (await rental_row(app, quote.rental_id)).state == RentalState.QUOTED
    await app.wallet.approve_connect(link.request_id)  # the confirm goes on by itself
    assert (await rental_row(app, quote.rental_id)).state == RentalState.AWAITING_PAYMENT
    with pytest.raises(Conflict):
        await app.rentals.confirm(alice, quote.rental_id)


async def test_chain_event_applied_once(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    r = await rental_row(app, quote.rental_id)
    terms_receipt = await app.escrow.open(*_open_args(app, r), signature=_sign_open(app, r))
    opened = terms_receipt.events[0]
    await app.lifecycle.chain_event(opened)
    await app.lifecycle.chain_event(opened)  # the watcher delivers it again
    await app.settle()
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds.count("payment_seen") == 1
    assert (await rental_row(app, quote.rental_id)).state == RentalState.ACTIVE


def _open_args(app, r):
    from core.services.rental_rules import terms_of

    return terms_of(r), r.renter_address


def _sign_open(app, r):
    from core.services.rental_rules import terms_of
    from rigshare_dev.fakes.escrow import fake_signature

    return fake_signature(r.renter_address, app.escrow._open_payload(terms_of(r), r.renter_address))


async def test_a_second_stop_asks_for_the_same_signature_not_a_second(app, clock):
    """/stop twice (or the same update handled again after a crash) is one stop request."""
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3 * 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    first = await app.rentals.stop(alice, None)
    clock.advance(5)
    again = await app.rentals.stop(alice, str(quote.rental_id))
    assert again.url == first.url and again.expires_at == first.expires_at
    async with app.db.read.connect() as conn:
        p = tables.pending_signatures.c
        stops = await conn.scalar(
            select(func.count()).select_from(tables.pending_signatures).where(p.kind == "stop")
        )
    assert stops == 1
