"""Wallet flows on the fakes (SQLite and PostgreSQL): link a wallet, confirm before linking,
prove a payout wallet, disconnect, and every request ending by itself with nothing half-done."""

from __future__ import annotations

import pytest

from core.domain.listings import ListingQuery, ListingStatus
from core.domain.rentals import RentalState
from core.errors import NotFound, ValidationError, WalletError
from core.services.views import PaymentPendingView, WalletLinkView
from core.services.wallets import CONNECT_TIMEOUT_S
from rigshare_dev.fakes.escrow import fake_signature
from rigshare_dev.fakes.signatures import personal_payload
from tests.support import (
    add_provider,
    gpu_holders,
    listing_row,
    register_provider,
    rental_row,
    renter,
)

PRICE = 650_000


async def _user(app, who):
    async with app.users.uow(readonly=True) as uow:
        return await uow.users.get(who.user_id)


async def _pending(app, token):
    async with app.users.uow(readonly=True) as uow:
        return await uow.signatures.get_by_token(token)


async def _provider(app, who):
    async with app.providers.uow(readonly=True) as uow:
        return await uow.providers.by_user(who.user_id)


async def _kinds(app, who):
    return [k for k, _, _ in await app.notifications.history(who.user_id)]


async def test_a_wallet_is_linked_only_when_the_wallet_approves(app):
    alice = await renter(app, wallet=False)
    assert (await app.wallets.account(alice)).address is None
    link = await app.wallets.connect(alice)
    assert link.purpose == "connect" and link.wc_uri.startswith("wc:")
    assert len(link.request_id) >= 32 and link.url.endswith("/sign/" + link.request_id)
    assert link.expires_at == app.clock.now() + CONNECT_TIMEOUT_S
    assert (await _user(app, alice)).wallet_address is None  # nothing before the wallet says so

    # someone else's connect request, a malformed address: nothing changes
    bob = await renter(app, "bob", wallet=False)
    await app.events.wallet_connected(bob.user_id, link.request_id, "0x" + "12" * 20)
    await app.events.wallet_connected(alice.user_id, link.request_id, "0xnot-an-address")
    assert (await _user(app, alice)).wallet_address is None
    assert (await _user(app, bob)).wallet_address is None

    await app.wallet.approve_connect(link.request_id)
    address = app.wallet.address_of(alice.user_id)
    assert (await _user(app, alice)).wallet_address == address
    view = await app.wallets.account(alice)
    assert (view.address, view.balance) == (address, await app.escrow.balance_of(address))
    assert (await _pending(app, link.request_id)).status == "signed"
    # the same approval replayed (a relay redelivering it) changes nothing
    await app.events.wallet_connected(alice.user_id, link.request_id, "0x" + "34" * 20)
    assert (await _user(app, alice)).wallet_address == address
    assert await _kinds(app, alice) == ["wallet_connected"]


async def test_confirm_without_wallet_holds_nothing_then_goes_on_after_the_connect(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app, wallet=False)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    link = await app.rentals.confirm(alice, quote.rental_id)
    assert isinstance(link, WalletLinkView) and link.rental_id == quote.rental_id
    assert (await rental_row(app, quote.rental_id)).state == RentalState.QUOTED
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    assert await gpu_holders(app, quote.offer.listing_id) == [None]  # nothing held
    assert app.wallet.pending == {}  # no signature asked for yet

    await app.wallet.approve_connect(link.request_id)
    r = await rental_row(app, quote.rental_id)
    assert r.state == RentalState.AWAITING_PAYMENT
    assert r.renter_address == app.wallet.address_of(alice.user_id)
    assert await gpu_holders(app, quote.offer.listing_id) == [quote.rental_id]
    [(request_id, (_, request))] = app.wallet.pending.items()
    history = await app.notifications.history(alice.user_id)
    assert [k for k, _, _ in history] == ["wallet_connected", "payment_requested"]
    asked = history[1][1]
    assert asked["summary"] == request.summary and asked["deposit"] == quote.deposit
    assert asked["wc_uri"] is None  # the session is live: the request went straight to it
    assert asked["url"].endswith("/sign/" + request_id)

    await app.wallet.approve(request_id)
    await app.settle()
    assert (await rental_row(app, quote.rental_id)).state == RentalState.ACTIVE


async def test_gpu_taken_while_the_wallet_was_linking_offers_the_next_best(app):
    await add_provider(app, "cheap", ["rtx4090"], 500_000)
    await add_provider(app, "dear", ["rtx4090"], 900_000)
    alice, bob = await renter(app, "alice", wallet=False), await renter(app, "bob")
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    link = await app.rentals.confirm(alice, quote.rental_id)
    rival = await app.market.quote(bob, ListingQuery(model="rtx4090"), 3600)
    assert rival.offer.listing_id == quote.offer.listing_id
    assert isinstance(await app.rentals.confirm(bob, rival.rental_id), PaymentPendingView)

    await app.wallet.approve_connect(link.request_id)
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    history = await app.notifications.history(alice.user_id)
    assert [k for k, _, _ in history] == ["wallet_connected", "confirm_taken"]
    nxt = history[1][1]["next_best"]
    assert nxt["offer"]["price_per_hour"] == 900_000
    assert nxt["offer"]["listing_id"] != quote.offer.listing_id
    # bob's hold is untouched and alice was asked to sign nothing
    assert await gpu_holders(app, quote.offer.listing_id) == [rival.rental_id]
    assert [uid for uid, _ in app.wallet.pending.values()] == [bob.user_id]


async def test_register_needs_a_signature_by_the_payout_wallet(app):
    pat = await renter(app, "pat", wallet=False)
    own = app.wallet.address_of(pat.user_id)
    view = await app.providers.register(pat, own)
    assert view.purpose == "register" and view.address == own
    [(request_id, (_, request))] = app.wallet.pending.items()
    assert request_id == view.request_id and request.method == "personal_sign"
    message = request.payload["message"]
    assert "rigshare" in message and own in message and "pat" in message
    assert "Nonce: " in message and "Valid until: " in message
    with pytest.raises(NotFound):  # not a provider before the proof
        await app.providers.add_machine(pat, "box1", "eu")

    await app.wallet.approve(request_id)
    assert (await _provider(app, pat)).payout_address == own
    assert (await _kinds(app, pat)) == ["provider_registered"]

    # changing the payout address needs the same proof: a wallet that signs with its own
    # key cannot move payouts to an address it does not control
    other = "0x" + "ab" * 20
    view = await app.providers.register(pat, other)
    await app.wallet.approve(view.request_id)
    assert (await _provider(app, pat)).payout_address == own
    history = await app.notifications.history(pat.user_id)
    assert history[-1][0] == "register_refused"
    assert history[-1][1] == {"address": other, "signer": own, "reason": "other_wallet"}

    # the holder of ``other`` signs on the signing page: accepted
    view = await app.providers.register(pat, other)
    page = await app.signing.page(view.request_id)
    signature = fake_signature(other, personal_payload(page.payload["message"]))
    answer = await app.signing.submit(view.request_id, signature, other)
    assert answer.status == "accepted"
    assert (await _provider(app, pat)).payout_address == other
    assert (await _kinds(app, pat))[-1] == "payout_updated"


async def test_register_refusals_change_nothing(app, clock):
    pat = await renter(app, "pat", wallet=False)
    own = app.wallet.address_of(pat.user_id)

    view = await app.providers.register(pat, own)  # tampered answer: not a signature of it
    await app.wallet.approve(view.request_id, tamper=True)
    view = await app.providers.register(pat, own)  # rejected in the wallet
    await app.wallet.reject(view.request_id)
    view = await app.providers.register(pat, own)  # answered too late
    clock.advance(CONNECT_TIMEOUT_S + 1)
    await app.wallet.approve(view.request_id)
    assert await _provider(app, pat) is None
    history = await app.notifications.history(pat.user_id)
    assert [(k, p.get("reason"), p.get("kind")) for k, p, _ in history] == [
        ("register_refused", "invalid", None),
        ("signature_failed", "rejected in the wallet", "register"),
        ("register_refused", "expired", None),
    ]
    with pytest.raises(ValidationError):  # no address and no linked wallet
        await app.providers.register(pat, None)


async def test_register_without_address_proves_the_linked_wallet(app):
    pat = await renter(app, "pat")
    view = await app.providers.register(pat, None)
    assert view.address == app.wallet.address_of(pat.user_id)
    assert view.wc_uri is None  # the linked wallet's live session gets the request
    await app.wallet.approve(view.request_id)
    assert (await _provider(app, pat)).payout_address == view.address


async def test_disconnect_forgets_the_wallet_and_the_next_confirm_pairs_again(app):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    assert await app.wallets.disconnect(alice) == app.wallet.address_of(alice.user_id)
    assert (await _user(app, alice)).wallet_address is None
    assert alice.user_id not in app.wallet.sessions
    assert await app.wallets.disconnect(alice) is None  # nothing left to forget
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    link = await app.rentals.confirm(alice, quote.rental_id)
    assert isinstance(link, WalletLinkView) and link.wc_uri.startswith("wc:")

    # the wallet ending a live session: the user hears it; the address stays for display
    bob = await renter(app, "bob")
    await app.wallet.end_session(bob.user_id, "session expired")
    assert (await _user(app, bob)).wallet_address == app.wallet.address_of(bob.user_id)
    history = await app.notifications.history(bob.user_id)
    assert history[-1][:2] == ("wallet_disconnected", {"reason": "session expired"})


async def test_keeper_expires_unanswered_requests_with_nothing_half_done(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice, bob = await renter(app, "alice"), await renter(app, "bob", wallet=False)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    pay = await app.rentals.confirm(alice, quote.rental_id)
    [open_id] = app.wallet.pending
    connect = await app.wallets.connect(bob)
    clock.advance(max(CONNECT_TIMEOUT_S, app.rentals.rules.payment_hold_s) + 1)  # past both

    counts = await app.keeper.tick()
    assert counts["expired_requests"] == 2 and counts["expired_holds"] == 1
    assert (await _pending(app, open_id)).status == "expired"
    assert (await _pending(app, connect.request_id)).status == "expired"
    assert (await rental_row(app, pay.rental_id)).state == RentalState.CANCELLED
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE
    alice_last = (await app.notifications.history(alice.user_id))[-1][:2]
    assert alice_last == ("request_expired", {"rental_id": pay.rental_id, "kind": "open"})
    bob_last = (await app.notifications.history(bob.user_id))[-1][:2]
    assert bob_last == ("request_expired", {"rental_id": None, "kind": "connect"})
    assert (await app.keeper.tick())["expired_requests"] == 0  # told once

    # answers that arrive after the keeper: nothing changes, nothing is locked
    await app.wallet.approve(open_id)
    await app.wallet.approve_connect(connect.request_id)
    await app.settle()
    assert app.escrow.locked == 0
    assert (await rental_row(app, pay.rental_id)).state == RentalState.CANCELLED
    assert (await _user(app, bob)).wallet_address is None


async def test_a_connect_for_a_quote_that_expires_confirms_nothing(app, clock):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app, wallet=False)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    link = await app.rentals.confirm(alice, quote.rental_id)
    clock.advance(app.rentals.rules.quote_ttl_s + 1)  # the quote lapses, the pairing not yet
    await app.wallet.approve_connect(link.request_id)
    assert (await _user(app, alice)).wallet_address is not None
    assert (await rental_row(app, quote.rental_id)).state == RentalState.CANCELLED
    assert app.wallet.pending == {}
    history = await app.notifications.history(alice.user_id)
    assert [k for k, _, _ in history] == ["wallet_connected", "confirm_failed"]
    assert "expired" in history[1][1]["reason"]
    assert (await listing_row(app, quote.offer.listing_id)).status == ListingStatus.AVAILABLE


async def test_rejected_connect_and_unreachable_wallet_leave_nothing_pending(app):
    alice = await renter(app, wallet=False)
    link = await app.wallets.connect(alice)
    await app.wallet.reject_connect(link.request_id)
    assert (await _pending(app, link.request_id)).status == "failed"
    history = await app.notifications.history(alice.user_id)
    assert history == [
        (
            "signature_failed",
            {"rental_id": None, "kind": "connect", "reason": "rejected in the wallet"},
            None,
        )
    ]
    app.wallet.unreachable = True
    with pytest.raises(WalletError):
        await app.wallets.connect(alice)
    with pytest.raises(WalletError):
        await app.providers.register(alice, app.wallet.address_of(alice.user_id))
    async with app.users.uow(readonly=True) as uow:
        assert await uow.signatures.expired(2**40) == []  # nothing left pending anywhere


async def test_request_tokens_are_unguessable(app):
    alice = await renter(app, wallet=False)
    tokens = {(await app.wallets.connect(alice)).request_id for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) == 32 for t in tokens)  # secrets.token_urlsafe(24): 192 bits


async def test_tests_helper_registers_through_the_proof(app):
    pat = await renter(app, "pat", wallet=False)
    address = await register_provider(app, pat)
    assert (await _provider(app, pat)).payout_address == address
