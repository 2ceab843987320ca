"""Provider service unit tests (register, add machine, rotate token, set price, pause, remove
machine, machines, earnings) on the in-memory unit of work and on SQLite, with the in-memory
wallet and its signature verifier."""

from __future__ import annotations

import pytest

from bot.background import Background
from core.domain.errors import GrammarError
from core.domain.listings import ListingQuery, ListingStatus, MachineStatus
from core.domain.model import Rental
from core.domain.rentals import RentalState as S
from core.errors import Conflict, Forbidden, NotFound, ValidationError, WalletError
from core.notifications.wallet import PayoutUpdated, ProviderRegistered, RegisterRefused
from core.services.base import MarketRules
from core.services.market import MarketService
from core.services.providers import ProviderService, hash_token
from core.services.views import Principal
from core.services.wallets import CONNECT_TIMEOUT_S
from rigshare_dev.fakes.escrow import fake_signature
from rigshare_dev.fakes.signatures import FakeSignatureVerifier, personal_payload
from rigshare_dev.fakes.wallet import FakeWallet, dev_address
from tests.core.service_units import Host, host, user


@pytest.fixture
def wallet() -> FakeWallet:
    return FakeWallet(Background())


@pytest.fixture
def providers(uow, clock, wallet) -> ProviderService:
    return ProviderService(
        uow, clock, MarketRules(), wallet=wallet, verifier=FakeSignatureVerifier()
    )


def _owner(h: Host) -> Principal:
    return Principal(h.user_id, "terminal")


async def _told(uow, user_id: int) -> list[str]:
    async with uow(readonly=True) as tx:
        return [m.kind for m in await tx.outbox.for_user(user_id)]


async def _provider(uow, user_id: int):
    async with uow(readonly=True) as tx:
        return await tx.providers.by_user(user_id)


async def _waiting(uow, clock) -> list[str]:
    """The kinds of the requests still waiting for a wallet."""
    async with uow(readonly=True) as tx:
        return [p.kind for p in await tx.signatures.expired(clock.now() + 10**9)]


def _signed_by(wallet: FakeWallet, token: str, address: str) -> str:
    """The answer of the wallet of ``address`` to the request behind ``token``."""
    _, request = wallet.pending[token]
    return fake_signature(address, personal_payload(str(request.payload["message"])))


async def test_register_proves_the_payout_wallet_then_changes_it(uow, clock, providers, wallet):
    ann = Principal(await user(uow, clock, "ann"), "terminal")
    mine = dev_address(ann.user_id)
    view = await providers.register(ann, mine)
    assert (view.purpose, view.address) == ("register", mine)
    assert await _provider(uow, ann.user_id) is None  # nothing until the wallet signs
    await providers.finish_register(view.request_id, _signed_by(wallet, view.request_id, mine))
    assert (await _provider(uow, ann.user_id)).payout_address == mine
    other = "0x" + "ab" * 20
    again = await providers.register(ann, other)
    await providers.finish_register(again.request_id, _signed_by(wallet, again.request_id, other))
    provider = await _provider(uow, ann.user_id)
    assert provider.payout_address == other  # the same provider, paid elsewhere
    assert await _told(uow, ann.user_id) == [ProviderRegistered.KIND, PayoutUpdated.KIND]
    await providers.finish_register(again.request_id, "0x00")  # a used request is ignored
    assert await _told(uow, ann.user_id) == [ProviderRegistered.KIND, PayoutUpdated.KIND]


async def test_a_registration_signed_elsewhere_or_too_late_changes_nothing(
    uow, clock, providers, wallet
):
    ann = Principal(await user(uow, clock, "ann"), "terminal")
    mine = dev_address(ann.user_id)
    view = await providers.register(ann, mine)
    forged = _signed_by(wallet, view.request_id, dev_address(ann.user_id + 1))
    await providers.finish_register(view.request_id, forged)
    late = await providers.register(ann, mine)
    clock.advance(CONNECT_TIMEOUT_S + 1)
    await providers.finish_register(late.request_id, _signed_by(wallet, late.request_id, mine))
    assert await _provider(uow, ann.user_id) is None
    assert await _told(uow, ann.user_id) == [RegisterRefused.KIND] * 2
    assert await _waiting(uow, clock) == []  # both answered: one failed, one expired


async def test_register_refuses_bad_input_and_an_unreachable_wallet(uow, clock, providers, wallet):
    ann = Principal(await user(uow, clock, "ann"), "terminal")
    with pytest.raises(Forbidden):
        await providers.register(Principal(ann.user_id, "terminal", private_chat=False), None)
    with pytest.raises(ValidationError):
        await providers.register(ann, None)  # no address and no linked wallet
    with pytest.raises(ValidationError):
        await providers.register(ann, "0x1234")
    with pytest.raises(NotFound):
        await providers.register(Principal(ann.user_id + 50, "terminal"), dev_address(1))
    wallet.unreachable = True
    with pytest.raises(WalletError):
        await providers.register(ann, dev_address(ann.user_id))
    assert await _waiting(uow, clock) == []  # the one that never reached the wallet failed
    assert await _provider(uow, ann.user_id) is None


async def test_add_machine_stores_its_token_hashed_and_a_name_once(uow, clock, providers):
    prov = await host(uow, clock, "prov")
    who = _owner(prov)
    view = await providers.add_machine(who, "rig2", "us")
    assert view.token.startswith("rsa_") and view.token in view.command
    async with uow(readonly=True) as tx:
        machine = await tx.machines.by_token_hash(hash_token(view.token))
        assert (machine.id, machine.name, machine.region) == (view.machine_id, "rig2", "us")
        assert machine.status == MachineStatus.PENDING
    with pytest.raises(Conflict):
        await providers.add_machine(who, "RIG2", "eu")  # names are the same in any case
    with pytest.raises(GrammarError):
        await providers.add_machine(who, "rig3", "atlantis")
    with pytest.raises(NotFound):
        await providers.add_machine(
            Principal(await user(uow, clock, "nobody"), "terminal"), "x", None
        )
    assert [m.name for m in await providers.machines(who)] == ["prov-box", "rig2"]


async def test_rotate_token_retires_the_old_one(uow, clock, providers):
    prov = await host(uow, clock, "prov")
    view = await providers.add_machine(_owner(prov), "rig", None)
    new = await providers.rotate_token(_owner(prov), "RIG")
    assert new.machine_id == view.machine_id and new.token != view.token
    async with uow(readonly=True) as tx:
        assert await tx.machines.by_token_hash(hash_token(view.token)) is None
        assert (await tx.machines.by_token_hash(hash_token(new.token))).id == view.machine_id
    with pytest.raises(NotFound):
        await providers.rotate_token(_owner(prov), "nope")


async def test_set_price_checks_range_and_plausibility(uow, clock, providers):
    prov = await host(uow, clock, "prov", price=500_000)
    who = _owner(prov)

    async def price() -> tuple[int, str]:
        async with uow(readonly=True) as tx:
            listing = await tx.listings.get(prov.listing_id)
        return listing.price_per_hour, listing.status

    notice = await providers.set_price(who, "prov-box", 700_000, None)
    assert notice.params["count"] == 1 and await price() == (700_000, "available")
    with pytest.raises(ValidationError) as low:
        await providers.set_price(who, "prov-box", 1, None)
    assert low.value.key == "providers.price_range"
    with pytest.raises(ValidationError) as jump:
        await providers.set_price(who, "prov-box", 700_000 * 5 + 1, None)
    assert jump.value.key == "providers.price_jump"
    assert await price() == (700_000, "available")  # refused: nothing changed
    await providers.set_price(who, "prov-box", 700_000 * 5 + 1, None, confirmed=True)
    assert await price() == (3_500_001, "available")
    with pytest.raises(NotFound):
        await providers.set_price(who, "prov-box", 700_000, "h100")
    with pytest.raises(NotFound):
        await providers.set_price(who, "other-box", 700_000, None)


async def test_pause_takes_the_machine_off_the_market_and_resume_brings_it_back(
    uow, clock, providers
):
    prov = await host(uow, clock, "prov")
    market = MarketService(uow, clock)
    renter = Principal(await user(uow, clock, "ann"), "terminal")
    assert (await providers.pause(_owner(prov), None, True)).key == "provider.paused"
    assert (await market.search(renter, ListingQuery())).total_available == 0
    async with uow(readonly=True) as tx:
        assert (await tx.machines.get(prov.machine_id)).status == MachineStatus.PAUSED
        assert (await tx.listings.get(prov.listing_id)).status == ListingStatus.PAUSED
    assert (await providers.pause(_owner(prov), "prov-box", False)).key == "provider.resumed"
    page = await market.search(renter, ListingQuery())
    assert [o.listing_id for o in page.offers] == [prov.listing_id]


async def _seed_rental(uow, clock, h: Host, state: str, **done: int) -> int:
    renter = await user(uow, clock, f"renter{clock.advance(1)}")
    async with uow() as tx:
        rental = Rental(
            renter, h.listing_id, h.provider_id, h.machine_id, "rtx4090", 1, 500_000, 3600,
            500_000, 1200, clock.now(), clock.now() + 300, state=state,
        )  # fmt: skip
        for field, value in done.items():
            setattr(rental, field, value)
        tx.rentals.add(rental)
        await tx.commit()
        return int(rental.id)


async def test_remove_machine_waits_for_its_rental_and_a_confirmation(uow, clock, providers):
    prov = await host(uow, clock, "prov")
    who = _owner(prov)
    busy = await _seed_rental(uow, clock, prov, S.ACTIVE)
    with pytest.raises(Conflict) as running:
        await providers.remove_machine(who, "prov-box", confirmed=True)
    assert running.value.params["rental_id"] == busy
    async with uow() as tx:
        r = await tx.rentals.get(busy)
        r.transition(S.ENDED)
        r.transition(S.SETTLED)
        await tx.commit()
    with pytest.raises(ValidationError) as ask:
        await providers.remove_machine(who, "prov-box")
    assert ask.value.key == "providers.remove_confirm"
    assert [m.name for m in await providers.machines(who)] == ["prov-box"]  # unchanged
    notice = await providers.remove_machine(who, "PROV-box", confirmed=True)
    assert notice.params["machine"] == "prov-box"
    assert await providers.machines(who) == []
    async with uow(readonly=True) as tx:
        assert (await tx.listings.get(prov.listing_id)).status == ListingStatus.REMOVED
        assert await tx.machines.by_token_hash("hash-prov") is None  # the agent is shut out
    again = await providers.add_machine(who, "prov-box", None)  # the name is free again
    assert again.machine_id != prov.machine_id


async def test_machines_and_earnings_show_the_providers_rentals(uow, clock, providers):
    prov = await host(uow, clock, "prov")
    active = await _seed_rental(uow, clock, prov, S.ACTIVE)
    await _seed_rental(
        uow, clock, prov, S.SETTLED, billed=400_000, fee=48_000, provider_net=352_000
    )
    await _seed_rental(uow, clock, prov, S.CANCELLED)  # never paid: not a failure
    [view] = await providers.machines(_owner(prov))
    assert view.listings == ((prov.listing_id, "rtx4090", 500_000, "available"),)
    assert (view.current_rental_id, view.status) == (active, "online")
    earned = await providers.earnings(_owner(prov))
    assert (earned.completed_rentals, earned.active_rentals) == (1, 1)
    assert (earned.gross, earned.fees, earned.net, earned.held) == (400_000, 48_000, 352_000, 0)
    assert earned.failed == ()
