"""Payouts the token refuses at settlement are held, told as held, retried and told as paid.

On the in-memory escrow (which parks refused pushes like the contract: ``PushFailed``, then
``claimFor``), SQLite and PostgreSQL. The end-to-end run on the real contract is in
tests/contracts/test_held_payouts_devchain.py.
"""

from __future__ import annotations

from bot.common.render import earnings, outbox, receipts
from bot.common.render_receipts import receipt
from core.domain.listings import ListingQuery
from core.domain.money import format_decimal, format_usdc, places_for
from core.domain.rentals import RentalState
from core.ports import ChainEvent
from core.services.notifications import DueMessage
from core.services.payouts import RETRY_FIRST_S, retry_delay
from tests.support import add_provider, rental_row, renter

PRICE = 650_000


async def _rent(app, hours: int = 3):
    """A provider, a renter and one paid, started rental: (provider, renter, rental)."""
    provider, _ = await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), hours * 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    return provider, alice, await rental_row(app, quote.rental_id)


async def _stop(app, alice) -> None:
    await app.rentals.stop(alice, None)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()


async def _payouts(app, rental_id):
    async with app.rentals.uow(readonly=True) as uow:
        return await uow.payouts.for_rentals([rental_id])


async def _kinds(app, who) -> list[str]:
    return [k for k, _, _ in await app.notifications.history(who.user_id)]


async def _message(app, who, kind: str, lang: str = "en") -> str:
    (payload,) = [p for k, p, _ in await app.notifications.history(who.user_id) if k == kind]
    return outbox(DueMessage(0, who.user_id, "terminal", None, lang, kind, payload, True, 0))


async def test_a_blocklisted_provider_is_told_held_then_paid_after_the_retry(app, clock):
    provider, alice, r = await _rent(app)
    payout_address = r.provider_address
    before = await app.escrow.balance_of(payout_address)
    app.escrow.blocked.add(payout_address.lower())  # the token issuer blocks the provider
    clock.advance(3600)
    await _stop(app, alice)

    r = await rental_row(app, r.id)
    assert r.state == RentalState.SETTLED  # the settlement closes all the same
    net = r.provider_net
    assert net > 0 and await app.escrow.claimable(payout_address) == net
    assert await app.escrow.balance_of(payout_address) == before
    # nobody says "paid": the settlement's payout notice was taken back in its transaction
    assert "provider_payout" not in await _kinds(app, provider)
    (held,) = await _payouts(app, r.id)
    assert (held.role, held.amount, held.status) == ("provider", net, "held")
    view = await app.providers.earnings(provider)
    assert (view.net, view.held) == (net, net)
    text = earnings("en", view).splitlines()
    places = places_for(view.gross, view.fees, net)  # amounts shown together share decimals
    assert text[2].endswith(f"= earned {format_usdc(net, places)}")
    assert text[3].startswith(
        f"Paid to you {format_usdc(0, places)} · held by the escrow {format_usdc(net, places)}"
    )

    # the first retry learns the token's reason, tells the provider, and spends nothing
    assert (await app.keeper.tick())["claimed"] == 0
    text = await _message(app, provider, "payout_held")
    assert f"your payout of {format_usdc(net)} is held" in text
    assert "is held by the escrow because the token refused the transfer" in text
    assert "the token issuer blocks the address" in text and "no gas" in text
    german = await _message(app, provider, "payout_held", "de")
    assert "hält der Escrow" in german and "kein Gas" in german
    assert "der Herausgeber des Tokens sperrt die Adresse" in german

    app.escrow.blocked.clear()  # the issuer lifts the block
    assert (await app.keeper.tick())["claimed"] == 0  # not due yet: backoff
    clock.advance(RETRY_FIRST_S)
    assert (await app.keeper.tick())["claimed"] == 1
    assert await app.escrow.balance_of(payout_address) == before + net  # to the micro-USDC
    assert await app.escrow.claimable(payout_address) == 0
    (paid,) = await _payouts(app, r.id)
    assert paid.status == "paid" and paid.paid_tx is not None
    text = await _message(app, provider, "payout_paid")
    assert "is paid to" in text and paid.paid_tx in text
    assert (await app.providers.earnings(provider)).held == 0
    assert (await app.keeper.tick())["claimed"] == 0  # nothing left to retry
    assert (await _kinds(app, provider)).count("payout_paid") == 1


async def test_a_refused_refund_shows_as_held_on_the_receipt_until_paid(app, clock):
    _, alice, r = await _rent(app)
    renter_address = r.renter_address
    before = await app.escrow.balance_of(renter_address)
    app.escrow.blocked.add(renter_address.lower())
    clock.advance(1800)
    await _stop(app, alice)
    r = await rental_row(app, r.id)
    assert r.refund > 0 and await app.escrow.claimable(renter_address) == r.refund

    # the receipt sent at settlement says the refund is held, not paid
    (payload,) = [p for k, p, _ in await app.notifications.history(alice.user_id) if k == "receipt"]
    assert payload["receipt"]["refund_held"] == r.refund
    text = await _message(app, alice, "receipt")
    assert "held by the escrow: the token refused the transfer" in text
    view = await app.receipts.list(alice, export_csv=True)
    assert view.receipts[0].refund_held == r.refund
    assert "(held by the escrow)" in receipts("en", view)
    refund = format_decimal(r.refund, 6, group="")  # the csv's USDC columns: exact decimals
    assert view.csv.splitlines()[1].split(",")[11:13] == [refund, refund]

    await app.keeper.tick()
    assert "the token issuer blocks the address" in await _message(app, alice, "refund_held")
    app.escrow.blocked.clear()
    clock.advance(RETRY_FIRST_S)
    await app.keeper.tick()
    assert "your refund of" in await _message(app, alice, "refund_paid")
    one = await app.receipts.one(alice, r.id)
    assert one.refund_held == 0 and "held" not in receipt("en", one)
    assert await app.escrow.balance_of(renter_address) == before + r.refund


async def test_a_paused_token_never_reads_refunded_for_a_rental_that_never_started(app, clock):
    app.agent_gateway.auto_grant = False
    _, alice, r = await _rent(app, hours=1)
    before = await app.escrow.balance_of(r.renter_address)
    app.escrow.token_paused = True
    clock.advance(app.lifecycle.rules.accept_timeout_s + 1)
    assert (await app.keeper.tick())["refunded"] == 1
    r = await rental_row(app, r.id)
    assert r.state == RentalState.CANCELLED
    text = await _message(app, alice, "refunded")
    assert "refunded in full" not in text and "the escrow holds it" in text
    assert "the token is paused by its issuer" in await _message(app, alice, "refund_held")
    app.escrow.token_paused = False
    clock.advance(RETRY_FIRST_S)
    assert (await app.keeper.tick())["claimed"] == 1
    assert await app.escrow.balance_of(r.renter_address) == before + r.deposit


async def test_retries_back_off_and_a_claim_by_the_owner_counts_as_paid(app, clock):
    provider, alice, r = await _rent(app)
    address = r.provider_address
    app.escrow.blocked.add(address.lower())
    clock.advance(3600)
    await _stop(app, alice)
    tries = []
    real = app.escrow.claim_for

    async def counted(addr):
        tries.append(clock.now())
        return await real(addr)

    app.escrow.claim_for = counted
    start = clock.now()
    for _ in range(150):  # two and a half hours of keeper passes, a minute apart
        await app.keeper.tick()
        clock.advance(60)
    gaps = [b - a for a, b in zip(tries, tries[1:], strict=False)]
    assert tries[0] == start and gaps[:3] == [60, 120, 240]  # 1 min, doubling ...
    assert max(gaps) == 3600 and len(tries) == 8  # ... up to an hour
    assert [retry_delay(n) for n in (1, 2, 3, 7, 30)] == [60, 120, 240, 3600, 3600]
    assert (await _kinds(app, provider)).count("payout_held") == 1  # told once

    # the provider claims it himself (gas of his own); the next pass sees nothing parked
    app.escrow.blocked.clear()
    await real(address)  # its Claimed is not mirrored yet
    clock.advance(3600)
    assert (await app.keeper.tick())["claimed"] == 1
    assert (await _payouts(app, r.id))[0].status == "paid"
    assert "payout_paid" in await _kinds(app, provider)


async def test_a_push_failure_mirrored_after_the_claim_that_paid_it_is_paid(app, clock):
    """A relayer's own claim is applied from its receipt at once; the watcher may mirror an
    earlier PushFailed for the same address only afterwards: that payout was paid by it."""
    provider, alice, r = await _rent(app)
    clock.advance(3600)
    await _stop(app, alice)
    address = r.provider_address.lower()
    claim = ChainEvent("0x" + "c1" * 32, 0, 10_000, "Claimed", address, {"account": address})
    late = ChainEvent(
        "0x" + "f0" * 32, 3, 9_000, "PushFailed", r.escrow_id, {"to": address, "amount": 5}
    )
    await app.bus.apply([claim])
    await app.bus.apply([late])
    (row,) = await _payouts(app, r.id)
    assert row.status == "paid" and row.paid_tx == claim.tx_hash
    kinds = await _kinds(app, provider)
    assert "provider_payout" in kinds and "payout_held" not in kinds
    assert (await app.keeper.tick())["claimed"] == 0
