"""Helpers for the adapter and watcher tests: apps on a real chain, rentals seeded on chain.

``dev_app`` builds the production bootstrap on the embedded development chain; the anvil
helpers deploy with fixed test keys (funded with ``anvil_setBalance``) and build an app that
talks to anvil through ``RPC_URL``. ``seed_rentals`` writes rentals awaiting payment into the
database and drives them on chain through the adapter directly, so their events reach the
database only through the chain watcher.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import AsyncHTTPProvider, AsyncWeb3

from bot.bootstrap import App, build_app
from bot.settings import Settings
from contracts.deploy import DEV_TIMEOUTS, Deployment, EscrowConfig, deploy_escrow, mint
from contracts.escrow import Web3Escrow
from contracts.relayer import FeePolicy, Relayer
from core.domain.model import Rental
from core.domain.rentals import RentalState
from core.ports import RentalTerms
from tests.fakes.clock import FakeClock
from tests.support import add_provider, renter

USDC = 10**6
PRICE = 650_000  # $0.65/h
FAUCET = 1_000 * USDC  # what the development chain gives each development wallet
FAST = FeePolicy(mine_timeout_s=10.0, poll_s=0.02)


def chain_key(role: str) -> LocalAccount:
    """Fixed, public test keys (worthless anywhere else)."""
    return Account.from_key(keccak(text=f"rigshare-chain-tests:{role}"))


async def dev_app(tmp_path: Any, clock: FakeClock, **settings: Any) -> App:
    app = build_app(
        Settings(
            _env_file=None,
            chain="dev",
            database_url=f"sqlite:///{tmp_path}/dev.sqlite3",
            **settings,
        ),
        clock=clock,
    )
    await app.start()
    return app


@asynccontextmanager
async def running_dev_app(tmp_path: Any) -> AsyncIterator[App]:
    """``dev_app`` on a fresh fake clock, closed after."""
    app = await dev_app(tmp_path, FakeClock())
    try:
        yield app
    finally:
        await app.close()


async def rentals_of(app: App) -> dict[int, Rental]:
    async with app.rentals.uow(readonly=True) as uow:
        rows = await uow.rentals.in_states(list(RentalState))
        return {r.id: r for r in rows}


# -- anvil -------------------------------------------------------------------------------------
async def rpc(w3: AsyncWeb3, method: str, *params: Any) -> Any:
    response = await w3.provider.make_request(method, list(params))
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    return response["result"]


async def chain_now(w3: AsyncWeb3) -> int:
    return int((await w3.eth.get_block("latest"))["timestamp"])


async def follow(w3: AsyncWeb3, clock: FakeClock) -> None:
    """Make the next block carry the test clock's time (never earlier than the head + 1)."""
    stamp = max(await chain_now(w3) + 1, clock.now())
    await rpc(w3, "evm_setNextBlockTimestamp", stamp)


@dataclass
class AnvilEscrow:
    w3: AsyncWeb3
    deployment: Deployment
    deployer: Relayer
    operator: LocalAccount

    def settings(self, tmp_path: Any, **extra: Any) -> Settings:
        values: dict[str, Any] = {
            "rpc_url": self.w3.provider.endpoint_uri,
            "chain_id": 31337,
            "escrow_address": self.deployment.escrow,
            "escrow_start_block": self.deployment.block,
            "relayer_key": "0x" + self.operator.key.hex(),
            "confirmations": 0,
            "database_url": f"sqlite:///{tmp_path}/anvil.sqlite3",
        }
        return Settings(_env_file=None, **{**values, **extra})

    async def fund(self, address: str, amount: int = 1_000 * USDC) -> None:
        await mint(self.deployer, self.deployment.token, address, amount)

    async def adapter(self, *, confirmations: int = 0, fees: FeePolicy = FAST) -> Web3Escrow:
        relayer = Relayer(self.w3, self.operator, confirmations=confirmations, fees=fees)
        escrow = Web3Escrow(self.w3, relayer, self.deployment.escrow, expected_chain_id=31337)
        await escrow.connect()
        return escrow


async def deploy_on_anvil(url: str, tag: str = "") -> AnvilEscrow:
    """A fresh MockUSDC and escrow (development timeouts) on the anvil at ``url``."""
    w3 = AsyncWeb3(AsyncHTTPProvider(url))
    deployer, operator = chain_key(f"deployer{tag}"), chain_key(f"operator{tag}")
    for acct in (deployer, operator):
        await rpc(w3, "anvil_setBalance", acct.address, hex(10**22))
    relayer = Relayer(w3, deployer, fees=FAST)
    config = EscrowConfig(
        owner=deployer.address,
        operator=operator.address,
        arbiter=chain_key("arbiter").address,
        treasury=chain_key("treasury").address,
        **DEV_TIMEOUTS,
    )
    return AnvilEscrow(w3, await deploy_escrow(relayer, config), relayer, operator)


# -- rentals driven on chain, mirrored only by the watcher ----------------------------------
@dataclass
class Seeded:
    rental_id: int
    escrow_id: str
    terms: RentalTerms


async def seed_rentals(
    app: App, escrow: Web3Escrow, renter_key: LocalAccount, n: int, *, deposit: int = USDC
) -> list[Seeded]:
    """``n`` rentals awaiting payment in the database, one listing, ids as the escrow has them."""
    _, machine_id = await add_provider(app, f"prov{secrets.token_hex(3)}", ["rtx4090"], PRICE)
    alice = await renter(app, f"alice{secrets.token_hex(3)}")
    now = await chain_now(escrow.w3)
    out = []
    async with app.rentals.uow() as uow:
        (listing,) = await uow.listings.for_machine(machine_id)
        provider = await uow.providers.get(listing.provider_id)
        for _ in range(n):
            terms = RentalTerms(
                provider_address=provider.payout_address,
                price_per_hour=PRICE,
                deposit=deposit,
                listing_id=listing.id,
                quote_expiry=now + 3600,
                salt="0x" + secrets.token_hex(32),
            )
            rental = Rental(
                renter_id=alice.user_id,
                listing_id=listing.id,
                provider_id=provider.id,
                machine_id=machine_id,
                gpu_model="rtx4090",
                gpu_count=1,
                price_per_hour=PRICE,
                duration_s=deposit * 3600 // PRICE,
                deposit=deposit,
                fee_bps=escrow.fee_bps,
                created_at=now,
                quote_expires_at=now + 3600,
                state=RentalState.AWAITING_PAYMENT,
                hold_until=now + 3600,
                renter_address=renter_key.address,
                provider_address=provider.payout_address,
                salt=terms.salt,
                escrow_id=escrow.escrow_id(terms, renter_key.address),
            )
            uow.rentals.add(rental)
            await uow.flush()
            out.append(Seeded(rental.id, rental.escrow_id, terms))
        await uow.commit()
    return out


def sign(key: LocalAccount, payload: Any) -> str:
    return "0x" + bytes(key.sign_typed_data(full_message=dict(payload)).signature).hex()


async def run_on_chain(escrow: Web3Escrow, key: LocalAccount, seeded: list[Seeded]) -> None:
    """Open (renter's authorization), start and stop-and-settle (renter's Stop) every rental,
    each phase as concurrent relayed transactions: 4 events per rental."""

    async def open_(s: Seeded) -> None:
        request = await escrow.prepare_open(s.terms, key.address)
        await escrow.open(s.terms, key.address, sign(key, request.payload))

    async def stop(s: Seeded) -> None:
        deadline = await chain_now(escrow.w3) + 3600
        request = await escrow.prepare_stop(s.escrow_id, key.address, deadline)
        await escrow.stop_and_settle(s.escrow_id, key.address, sign(key, request.payload), deadline)

    await asyncio.gather(*(open_(s) for s in seeded))
    await asyncio.gather(*(escrow.start(s.escrow_id) for s in seeded))
    await asyncio.gather(*(stop(s) for s in seeded))
