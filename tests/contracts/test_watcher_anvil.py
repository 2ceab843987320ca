"""The chain watcher against anvil: a restart in the middle of a burst of events loses none and
applies none twice; events of blocks orphaned by a reorg within the depth are never applied."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select
from web3.exceptions import TransactionNotFound

from bot.bootstrap import App, build_app
from contracts.watcher import ChainWatcher
from core.db import tables
from core.domain.rentals import RentalState as S
from tests.contracts.chain_support import (
    AnvilEscrow,
    chain_key,
    chain_now,
    deploy_on_anvil,
    rentals_of,
    rpc,
    run_on_chain,
    seed_rentals,
    sign,
)


class Crash(Exception):
    """The process dies here (not an expected CoreError: the watcher does not swallow it)."""


async def _app(chain: AnvilEscrow, tmp_path, **extra) -> App:
    app = build_app(chain.settings(tmp_path, **extra))
    await app.start()
    app.agent_gateway.auto_grant = False  # the burst starts the rentals itself
    return app


async def _events_in_db(app: App) -> list[tuple[str, int]]:
    async with app.db.read.connect() as conn:
        rows = await conn.execute(
            select(tables.chain_events.c.tx_hash, tables.chain_events.c.log_index)
        )
        return [tuple(r) for r in rows]


async def test_restart_in_the_middle_of_a_burst_loses_nothing_and_repeats_nothing(
    anvil_url, tmp_path
) -> None:
    chain = await deploy_on_anvil(anvil_url, "burst")
    app = await _app(chain, tmp_path)
    renter = chain_key("burst-renter")
    await chain.fund(renter.address)
    escrow = await chain.adapter()
    seeded = await seed_rentals(app, escrow, renter, 12)
    await run_on_chain(escrow, renter, seeded)  # 48 events, applied by nobody yet
    all_logs = await chain.w3.eth.get_logs(
        {
            "address": escrow.address,
            "fromBlock": chain.deployment.block,
            "topics": [escrow.decoder.topics],
        }
    )
    assert len(all_logs) == 48

    handed = 0

    async def dies_after_30(event) -> None:
        nonlocal handed
        if handed == 30:
            raise Crash
        handed += 1
        await app.lifecycle.chain_event(event)

    def watcher(sink) -> ChainWatcher:
        return ChainWatcher(
            app.escrow,
            sink,
            app.lifecycle.uow,
            confirmations=0,
            start_block=chain.deployment.block,
            max_range=4,
        )

    first = watcher(dies_after_30)
    try:
        await first.poll()
    except Crash:
        pass
    else:  # pragma: no cover
        raise AssertionError("the first watcher should have died mid-burst")
    cursor = await first.cursor()
    assert chain.deployment.block <= cursor < await chain.w3.eth.block_number
    assert len(await _events_in_db(app)) == 30

    second = watcher(app.lifecycle.chain_event)  # the process came back
    assert await second.cursor() == cursor
    handed_again = await second.poll()
    assert 30 + handed_again > 48  # the unfinished range was read again ...
    applied = await _events_in_db(app)
    assert sorted(applied) == sorted(  # ... yet every event is in exactly once
        ("0x" + bytes(log["transactionHash"]).hex(), log["logIndex"]) for log in all_logs
    )
    assert await second.cursor() == await chain.w3.eth.block_number
    rentals = await rentals_of(app)
    assert {rentals[s.rental_id].state for s in seeded} == {S.SETTLED}
    for s in seeded:
        r = rentals[s.rental_id]
        assert r.provider_net + r.fee + r.refund == r.deposit
    kinds = Counter(
        k for k, _, _ in await app.notifications.history(app_renter_id(rentals, seeded))
    )
    assert kinds["payment_seen"] == kinds["receipt"] == 12
    assert await second.poll() == 0  # nothing new
    await app.close()
    await chain.w3.provider.disconnect()


def app_renter_id(rentals, seeded) -> int:
    return rentals[seeded[0].rental_id].renter_id


async def test_events_of_blocks_orphaned_within_the_depth_are_never_applied(
    anvil_url, tmp_path
) -> None:
    chain = await deploy_on_anvil(anvil_url, "reorg")
    app = await _app(chain, tmp_path, confirmations=2)
    renter = chain_key("reorg-renter")
    await chain.fund(renter.address)
    escrow = await chain.adapter()
    orphan, kept = await seed_rentals(app, escrow, renter, 2)
    assert app.watcher.confirmations == 2
    await rpc(chain.w3, "evm_mine")
    await rpc(chain.w3, "evm_mine")
    await app.watcher.poll()
    fork_point = await rpc(chain.w3, "evm_snapshot")

    async def pay(s) -> str:
        adapter = await chain.adapter()  # a fresh relayer reads the nonce of this branch
        request = await adapter.prepare_open(s.terms, renter.address)
        receipt = await adapter.open(s.terms, renter.address, sign(renter, request.payload))
        return receipt.tx_hash

    orphaned_tx = await pay(orphan)  # block B+1
    assert (await chain.w3.eth.get_transaction_receipt(orphaned_tx))["status"] == 1
    await rpc(chain.w3, "evm_mine")  # B+2: the payment is 1 block deep, not confirmed
    assert await app.watcher.poll() == 0

    await rpc(chain.w3, "evm_revert", fork_point)  # a competing branch from B wins
    with pytest.raises(TransactionNotFound):
        await chain.w3.eth.get_transaction_receipt(orphaned_tx)
    kept_tx = await pay(kept)
    for _ in range(3):
        await rpc(chain.w3, "evm_mine")
    assert await chain.w3.eth.get_transaction_count(renter.address) == 0  # gasless renter
    assert await app.watcher.poll() == 1
    applied = {tx for tx, _ in await _events_in_db(app)}
    assert applied == {kept_tx} and orphaned_tx not in applied
    rentals = await rentals_of(app)
    assert rentals[orphan.rental_id].state == S.AWAITING_PAYMENT
    assert rentals[kept.rental_id].state == S.PROVISIONING
    await app.close()
    await chain.w3.provider.disconnect()


async def test_the_cursor_is_one_settings_row_per_chain_and_escrow(anvil_url, tmp_path) -> None:
    """The cursor lives in the settings table, one per chain and escrow."""
    chain = await deploy_on_anvil(anvil_url, "cursor")
    app = await _app(chain, tmp_path)
    await app.watcher.poll()
    async with app.db.read.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(tables.settings_kv))
    assert n == 1
    assert (await app.watcher.cursor_key()).endswith(chain.deployment.escrow.lower())
    await app.close()
    await chain.w3.provider.disconnect()


async def test_a_reorg_deeper_than_the_depth_is_detected_and_read_again(
    anvil_url, tmp_path, caplog
) -> None:
    chain = await deploy_on_anvil(anvil_url, "deep")
    app = await _app(chain, tmp_path, confirmations=1)
    fork_point = await rpc(chain.w3, "evm_snapshot")
    for _ in range(3):
        await rpc(chain.w3, "evm_mine")
    await app.watcher.poll()
    stored = await app.watcher.cursor()
    await rpc(chain.w3, "evm_revert", fork_point)
    await rpc(chain.w3, "evm_setNextBlockTimestamp", await chain_now(chain.w3) + 1000)
    for _ in range(4):
        await rpc(chain.w3, "evm_mine")  # the same heights, other blocks
    await app.watcher.poll()
    assert "changed after it was confirmed" in caplog.text
    assert await app.watcher.cursor() >= stored
    await app.close()
    await chain.w3.provider.disconnect()
