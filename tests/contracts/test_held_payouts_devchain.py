"""End to end on the real contract (the embedded development chain: py-evm, MockUSDC with its
blocklist, RentalEscrow): a provider blocklisted at settlement is told "held", not "paid"; once
the block is lifted the service's relayer claims for him and he is told "paid", with balances
exact to the micro-USDC and no gas of his own. And the escrow's minimums, read from the contract,
stop quotes it would refuse."""

from __future__ import annotations

import pytest

from bot.bootstrap import App
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from core.errors import ValidationError
from core.services.payouts import RETRY_FIRST_S
from tests.contracts.chain_support import FAUCET, PRICE, USDC, rentals_of, running_dev_app
from tests.support import add_provider, renter


@pytest.fixture
async def app(tmp_path):
    async with running_dev_app(tmp_path) as application:
        yield application


async def _token(app: App, fn: str, address: str) -> None:
    """The token owner (the development deployer) calls ``blocklist``/``unBlocklist``."""
    call = getattr(app.escrow.token.functions, fn)(address)
    await app.dev_chain.deployer.send(call, what=fn)


async def _kinds(app: App, who) -> list[str]:
    return [k for k, _, _ in await app.notifications.history(who.user_id)]


async def _payload(app: App, who, kind: str) -> dict:
    (payload,) = [p for k, p, _ in await app.notifications.history(who.user_id) if k == kind]
    return payload


async def test_a_blocklisted_provider_is_paid_by_the_services_claim_after_the_unblock(
    app: App,
) -> None:
    provider, _ = await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3 * 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    r = (await rentals_of(app))[quote.rental_id]
    payee, renter_address = r.provider_address, r.renter_address
    assert r.state == S.ACTIVE and await app.escrow.balance_of(payee) == 0
    await _token(app, "blocklist", payee)

    app.clock.advance(3617)
    await app.rentals.stop(alice, None)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    r = (await rentals_of(app))[r.id]
    net = r.provider_net
    assert r.state == S.SETTLED and net > 0 and r.provider_net + r.fee + r.refund == r.deposit
    assert await app.escrow.balance_of(payee) == 0  # the token refused the push ...
    assert await app.escrow.claimable(payee) == net  # ... and the escrow parked it
    assert await app.escrow.balance_of(renter_address) == FAUCET - r.deposit + r.refund
    assert "provider_payout" not in await _kinds(app, provider)  # never "paid to you"

    operator = app.escrow.relayer
    sent = len(operator.sent)
    assert (await app.keeper.tick())["claimed"] == 0
    assert len(operator.sent) == sent  # the dry run saw the refusal: no gas burnt on it
    held = await _payload(app, provider, "payout_held")
    assert held["amount"] == net and held["reason"] == "the token issuer blocks the address"
    assert held["reason_code"] == "blocked"  # MockUSDC's AccountBlocklisted, decoded

    await _token(app, "unBlocklist", payee)
    app.clock.advance(RETRY_FIRST_S)
    assert (await app.keeper.tick())["claimed"] == 1
    assert len(operator.sent) == sent + 1  # one claimFor, paid by the service's relayer
    assert await app.escrow.balance_of(payee) == net  # exact to the micro-USDC
    assert await app.escrow.claimable(payee) == 0
    assert await app.dev_chain.w3.eth.get_balance(payee) == 0  # the provider never had gas
    paid = await _payload(app, provider, "payout_paid")
    assert paid["amount"] == net and paid["tx"] == operator.sent[-1]
    assert await app.escrow.balance_of(app.escrow.address) == r.fee  # only the fee is left
    assert (await app.providers.earnings(provider)).held == 0

    # the watcher reads the same blocks (Claimed included): nothing is applied twice
    await app.watcher.poll()
    assert (await _kinds(app, provider)).count("payout_paid") == 1
    assert (await app.keeper.tick())["claimed"] == 0


async def test_quotes_keep_to_the_minimums_the_escrow_has_now(app: App) -> None:
    await add_provider(app, "prov", ["rtx4090"], 400_000)
    await add_provider(app, "big", ["h100"], 10 * USDC)
    alice = await renter(app)
    with pytest.raises(ValidationError, match="smallest deposit the escrow takes is 0.100000"):
        await app.market.quote(alice, ListingQuery(model="rtx4090"), 600)  # /rent 4090 10m

    # the owner raises them (for rentals opened from now on); quotes follow the contract
    call = app.escrow.contract.functions.setMinimums(USDC, 900)
    await app.dev_chain.deployer.send(call, what="setMinimums")
    app.escrow.minimums_ttl_s = 0  # re-read at once (a minute in production)
    with pytest.raises(ValidationError, match="smallest deposit the escrow takes is 1.00 USDC"):
        await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)  # /rent 4090 1h
    with pytest.raises(ValidationError, match="The shortest rental is 15m"):
        await app.market.quote(alice, ListingQuery(model="h100"), 600)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 9000)
    await app.rentals.confirm(alice, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    assert (await rentals_of(app))[quote.rental_id].state == S.ACTIVE  # the contract took it
