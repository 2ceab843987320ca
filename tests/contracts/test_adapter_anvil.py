"""The adapter over real JSON-RPC (anvil): ``rigshare deploy``, a rental through the services,
fee bumps for a transaction that is not mined, and receipts only after the confirmation depth."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.bootstrap import build_app
from bot.cli import _parser
from bot.deploy import run as deploy_run
from bot.settings import Settings
from contracts.artifacts import load_artifact
from contracts.errors import Reverted
from contracts.relayer import FeePolicy, Relayer
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState as S
from tests.contracts.chain_support import (
    PRICE,
    USDC,
    chain_key,
    chain_now,
    deploy_on_anvil,
    follow,
    rentals_of,
    rpc,
)
from tests.fakes.clock import FakeClock
from tests.support import add_provider, renter


async def test_deploy_command_then_a_rental_through_the_services(anvil_url, tmp_path) -> None:
    deployer, operator = chain_key("cli-deployer"), chain_key("cli-operator")
    probe = await deploy_on_anvil(anvil_url, "probe")  # only for its web3 and anvil_setBalance
    for key in (deployer, operator):
        await rpc(probe.w3, "anvil_setBalance", key.address, hex(10**21))
    settings = Settings(
        _env_file=None,
        rpc_url=anvil_url,
        chain_id=31337,
        deployer_key="0x" + deployer.key.hex(),
        relayer_key="0x" + operator.key.hex(),
        confirmations=0,
        database_url=f"sqlite:///{tmp_path}/rpc.sqlite3",
    )
    args = _parser().parse_args(
        ["deploy", "--mock-usdc", "--challenge-window", "600", "--min-deposit", "100000"]
    )
    lines: list[str] = []
    assert await deploy_run(args, settings, lines.append) == 0
    env = dict(re.findall(r"^([A-Z_]+)=(\S+)$", "\n".join(lines), re.M))
    assert set(env) == {"ESCROW_ADDRESS", "ESCROW_START_BLOCK", "CHAIN_ID"}

    clock = FakeClock(await chain_now(probe.w3) + 1)
    settings = settings.model_copy(
        update={"escrow_address": env["ESCROW_ADDRESS"], "escrow_start_block": 0}
    )
    app = build_app(settings, clock=clock)
    await app.start()
    try:
        assert app.escrow.challenge_window == 600 and app.escrow.fee_bps == 1200
        await add_provider(app, "prov", ["rtx4090"], PRICE)
        alice = await renter(app)
        address = app.wallet.address_of(alice.user_id)
        token = app.escrow.token
        await Relayer(probe.w3, deployer).send(token.functions.mint(address, 100 * USDC))
        quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
        await app.rentals.confirm(alice, quote.rental_id)
        await app.wallet.approve(next(iter(app.wallet.pending)))
        await app.settle()
        r = (await rentals_of(app))[quote.rental_id]
        assert r.state == S.ACTIVE

        clock.advance(1800)
        await follow(probe.w3, clock)
        await app.rentals.stop(alice, None)
        await app.wallet.approve(next(iter(app.wallet.pending)))
        r = (await rentals_of(app))[quote.rental_id]
        assert r.state == S.SETTLED
        assert r.provider_net + r.fee + r.refund == r.deposit
        assert await app.escrow.balance_of(address) == 100 * USDC - r.billed
        assert await app.escrow.balance_of(r.provider_address) == r.provider_net

        with pytest.raises(Reverted, match="as closed"):
            await app.escrow.finalize(r.escrow_id)
        # the watcher reads the same events from the node and applies none of them again
        history = await app.notifications.history(alice.user_id)
        assert await app.watcher.poll() == 4
        assert await app.notifications.history(alice.user_id) == history
    finally:
        await app.close()
        await probe.w3.provider.disconnect()


async def test_a_transaction_not_mined_is_resent_with_higher_fees(anvil_url) -> None:
    chain = await deploy_on_anvil(anvil_url, "bump")
    relayer = Relayer(
        chain.w3, chain.operator, fees=FeePolicy(mine_timeout_s=0.3, poll_s=0.05, max_bumps=5)
    )
    token = chain.w3.eth.contract(address=chain.deployment.token, abi=load_artifact("MockUSDC").abi)
    await rpc(chain.w3, "evm_setAutomine", False)
    try:
        sending = asyncio.create_task(
            relayer.send(token.functions.approve(chain.deployment.escrow, 1))
        )
        while len(relayer.sent) < 2:  # noqa: ASYNC110 - the original and a replacement
            await asyncio.sleep(0.05)
        await rpc(chain.w3, "evm_mine")
        receipt = await asyncio.wait_for(sending, 10)
    finally:
        await rpc(chain.w3, "evm_setAutomine", True)
    mined = "0x" + bytes(receipt["transactionHash"]).hex()
    assert mined in relayer.sent[1:]  # a replacement with the same nonce, not the original
    bumped = (await chain.w3.eth.get_transaction(mined))["maxPriorityFeePerGas"]
    assert bumped > 10**9  # anvil suggests 1 gwei; each bump adds 25 %
    await chain.w3.provider.disconnect()


async def test_receipts_wait_for_the_confirmation_depth(anvil_url) -> None:
    chain = await deploy_on_anvil(anvil_url, "depth")
    escrow = await chain.adapter(confirmations=2)
    done = asyncio.create_task(
        escrow.relayer.send(escrow.token.functions.approve(escrow.address, 1))
    )
    await asyncio.sleep(0.3)
    assert not done.done()  # mined, but not yet 2 blocks deep
    await rpc(chain.w3, "evm_mine")
    await asyncio.sleep(0.3)
    assert not done.done()
    await rpc(chain.w3, "evm_mine")
    receipt = await asyncio.wait_for(done, 5)
    assert await chain.w3.eth.block_number == receipt["blockNumber"] + 2
    await chain.w3.provider.disconnect()
