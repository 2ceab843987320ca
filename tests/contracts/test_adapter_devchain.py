"""The escrow adapter on the embedded development chain, driven through the services.

The production bootstrap with ``chain="dev"``: py-evm in process, MockUSDC and RentalEscrow
deployed at start, a development wallet that signs real EIP-712 typed data, the operator
relaying. Money is checked against token balances to the micro-USDC.
"""

from __future__ import annotations

import pytest

from bot.bootstrap import App
from contracts.errors import Reverted
from core.domain.billing import billed, paid_seconds
from core.domain.listings import ListingQuery
from core.domain.reliability import HEARTBEAT_COVERAGE
from core.domain.rentals import RentalState as S
from tests.contracts.chain_support import FAUCET, PRICE, rentals_of, running_dev_app
from tests.probing import probed_heartbeat, verify
from tests.support import add_provider, paid_quote, renter


@pytest.fixture
async def app(tmp_path):
    async with running_dev_app(tmp_path) as application:
        yield application


async def _balance(app: App, address: str) -> int:
    return await app.escrow.balance_of(address)


async def _rent(app: App, hours: int = 3):
    """A provider, a renter and one paid, started rental; returns (renter, rental, listing)."""
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), hours * 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    ((request_id, (_, request)),) = app.wallet.pending.items()
    assert request.method == "eth_signTypedData_v4"
    assert request.payload["primaryType"] == "ReceiveWithAuthorization"
    assert request.payload["message"]["to"] == app.escrow.address
    assert request.payload["message"]["value"] == quote.deposit
    await app.wallet.approve(request_id)
    await app.settle()
    return alice, (await rentals_of(app))[quote.rental_id]


async def test_rent_stop_settles_on_chain_with_the_exact_split(app: App) -> None:
    alice, r = await _rent(app)
    renter_address = app.wallet.address_of(alice.user_id)
    deposit = r.deposit
    assert r.state == S.ACTIVE and r.renter_address == renter_address
    on_chain = await app.escrow.rental(r.escrow_id)
    assert on_chain["status"] == "Active" and on_chain["deposit"] == deposit
    assert r.paid_until == r.started_at + paid_seconds(deposit, PRICE) == on_chain["paidUntil"]
    assert await _balance(app, app.escrow.address) == deposit  # locked in the escrow
    assert await _balance(app, renter_address) == FAUCET - deposit
    assert await app.dev_chain.w3.eth.get_balance(renter_address) == 0  # no gas, ever

    app.clock.advance(3617)
    await app.rentals.stop(alice, None)
    ((request_id, (_, request)),) = app.wallet.pending.items()
    assert request.payload["primaryType"] == "Stop" and request.payload["message"]["settle"]
    await app.wallet.approve(request_id)
    await app.settle()

    r = (await rentals_of(app))[r.id]
    assert r.state == S.SETTLED
    assert r.ended_at == app.clock.now()  # the development chain follows the service clock
    seconds = r.ended_at - r.started_at
    assert 3617 - 5 <= seconds <= 3617  # blocks before it were a second apart each
    assert r.billed == billed(seconds, PRICE) and r.fee == r.billed * 1200 // 10_000
    assert r.provider_net + r.fee + r.refund == deposit  # to the micro-USDC
    provider = r.provider_address
    assert await _balance(app, provider) == r.provider_net
    assert await _balance(app, renter_address) == FAUCET - deposit + r.refund
    assert await _balance(app, app.escrow.address) == r.fee  # accrued for the treasury
    assert (await app.escrow.rental(r.escrow_id))["status"] == "Closed"
    for tx in (r.open_tx, r.start_tx, r.stop_tx, r.settle_tx):
        assert (await app.dev_chain.w3.eth.get_transaction_receipt(tx))["status"] == 1
    kinds = [k for k, _, _ in await app.notifications.history(alice.user_id)]
    assert kinds == ["wallet_connected", "payment_seen", "private_key", "credentials", "receipt"]


async def test_keeper_stops_after_paid_until_then_finalizes_after_the_window(app: App) -> None:
    alice, r = await _rent(app, hours=1)
    app.clock.advance(r.paid_until - app.clock.now())
    assert (await app.keeper.tick())["stopped"] == 1
    r = (await rentals_of(app))[r.id]
    assert r.state == S.ENDED and r.ended_at == r.paid_until
    assert (await app.escrow.rental(r.escrow_id))["status"] == "Ended"
    assert app.agent_gateway.revoked == [r.id]  # access ends with the prepaid time

    app.clock.advance(app.escrow.challenge_window - 1)
    assert (await app.keeper.tick())["finalized"] == 0
    app.clock.advance(1)
    assert (await app.keeper.tick())["finalized"] == 1
    r = (await rentals_of(app))[r.id]
    assert r.state == S.SETTLED and r.refund == 0 and r.billed == r.deposit
    assert await _balance(app, r.provider_address) == r.provider_net == r.deposit - r.fee


async def test_dispute_is_signed_by_the_renter_and_finalized_after_the_arbiter_timeout(
    app: App,
) -> None:
    alice, r = await _rent(app)
    app.clock.advance(600)
    await app.rentals.dispute(alice, None, "GPU vanished")
    ((request_id, (_, request)),) = app.wallet.pending.items()
    assert request.payload["primaryType"] == "Dispute"
    await app.wallet.approve(request_id)
    r = (await rentals_of(app))[r.id]
    assert r.state == S.DISPUTED and r.ended_at == app.clock.now()  # billing stopped
    app.clock.advance(app.escrow.arbiter_timeout)
    assert (await app.keeper.tick())["finalized"] == 1
    r = (await rentals_of(app))[r.id]
    assert r.state == S.RESOLVED
    assert r.billed == billed(r.ended_at - r.started_at, PRICE)
    assert r.provider_net + r.fee + r.refund == r.deposit


async def test_extend_and_a_never_provisioned_rental(app: App) -> None:
    alice, r = await _rent(app, hours=1)
    app.clock.advance(60)
    await app.rentals.extend(alice, None, 2 * 3600)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    r = (await rentals_of(app))[r.id]
    assert r.deposit == 650_000 + 1_300_000
    assert r.paid_until == r.started_at + paid_seconds(r.deposit, PRICE)

    bob = await renter(app, "bob")
    app.agent_gateway.auto_grant = False
    await add_provider(app, "prov2", ["rtx4090"], PRICE)
    quote = await app.market.quote(bob, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(bob, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    address = app.wallet.address_of(bob.user_id)
    assert await _balance(app, address) == FAUCET - quote.deposit
    app.clock.advance(app.rentals.rules.accept_timeout_s + 1)
    assert (await app.keeper.tick())["refunded"] == 1
    assert (await rentals_of(app))[quote.rental_id].state == S.CANCELLED
    assert await _balance(app, address) == FAUCET


async def test_reverts_become_user_facing_errors(app: App) -> None:
    alice, r = await _rent(app)
    with pytest.raises(Reverted, match="has this rental as active") as exc:
        await app.escrow.start(r.escrow_id)
    assert exc.value.error == "WrongStatus"
    with pytest.raises(Reverted, match="Too early: the escrow allows this from 20"):
        await app.escrow.finalize(r.escrow_id)
    with pytest.raises(Reverted, match="as unknown"):
        await app.escrow.stop_expired("0x" + "11" * 32)

    # a relayer (or a bug) changing the signed terms: refused, nothing locked
    bob = await renter(app, "bob")
    await add_provider(app, "prov2", ["rtx4090"], PRICE)
    quote = await app.market.quote(bob, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(bob, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)), tamper=True)
    assert (await rentals_of(app))[quote.rental_id].state == S.CANCELLED
    history = await app.notifications.history(bob.user_id)
    assert [k for k, _, _ in history] == ["wallet_connected", "payment_failed"]
    assert "signature" in str(history[1][1]["reason"]).lower()
    assert history[1][1]["reason_key"].startswith("chain.")  # so it reads in the user's language
    assert await _balance(app, app.wallet.address_of(bob.user_id)) == FAUCET


async def test_the_arbiter_refunds_an_outage_on_chain_within_the_bill(app: App) -> None:
    _, machine_id = await add_provider(app, "prov", ["rtx4090"], PRICE)
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 1))
    # the service's own probe passed before the rental: only then do heartbeats back the bill
    assert (await verify(app, machine_id))["judged"] == 1
    alice, quote = await paid_quote(app)
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 2))
    app.clock.advance(900)  # the machine is silent for 15 minutes, then beats again
    await app.agents.heartbeat(machine_id, probed_heartbeat(["rtx4090"], 3))
    await app.rentals.dispute(alice, None, "GPU vanished")
    await app.wallet.approve(next(iter(app.wallet.pending)))
    app.clock.advance(app.lifecycle.rules.arbiter_delay_s)
    r = (await rentals_of(app))[quote.rental_id]
    renter_before = await _balance(app, r.renter_address)
    provider_before = await _balance(app, r.provider_address)
    assert (await app.keeper.tick())["decided"] == 1
    r = (await rentals_of(app))[quote.rental_id]
    assert r.state == S.RESOLVED and r.dispute_outcome == "renter"
    used = r.ended_at - r.started_at
    gross = billed(used - (900 - HEARTBEAT_COVERAGE), PRICE)  # silence beyond one coverage
    assert r.provider_net + r.fee == gross < billed(used, PRICE)
    assert await _balance(app, r.renter_address) - renter_before == r.refund == r.deposit - gross
    assert await _balance(app, r.provider_address) - provider_before == r.provider_net
