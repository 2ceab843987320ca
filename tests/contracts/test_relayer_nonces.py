"""Several service processes send from one relayer key: with the shared nonce lock
(``core.db.mutex``) every transaction gets a nonce of its own, even while earlier ones wait
in the mempool; without it two processes hand out the same nonce and one send fails.

Runs on anvil with automine off (blocks every second), where pending transactions stay
pending as they do on Polygon. The lock is a PostgreSQL advisory lock, or an flock beside a
SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from contracts.artifacts import load_artifact
from contracts.errors import ChainError
from contracts.relayer import Relayer
from core.db.engine import create_database
from core.db.mutex import DatabaseMutex
from tests.contracts.chain_support import FAST, chain_key, deploy_on_anvil, rpc
from tests.support import PG_URL, pg_available

PER_PROCESS = 6


@pytest.fixture
async def mempool(anvil_url):
    """The anvil node with automine off: a block every second, transactions wait for it."""
    chain = await deploy_on_anvil(anvil_url, f"nonces{secrets.token_hex(3)}")
    await rpc(chain.w3, "evm_setAutomine", False)
    await rpc(chain.w3, "evm_setIntervalMining", 1)
    try:
        yield chain
    finally:
        await rpc(chain.w3, "evm_setIntervalMining", 0)
        await rpc(chain.w3, "evm_setAutomine", True)
        await chain.w3.provider.disconnect()


def _mint(chain, to: str):
    token = chain.w3.eth.contract(address=chain.deployment.token, abi=load_artifact("MockUSDC").abi)
    return token.functions.mint(to, 1)


def _databases(backend: str, tmp_path):
    if backend == "postgres":
        if not pg_available():
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
            pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
        return create_database(PG_URL), create_database(PG_URL)
    url = f"sqlite:///{tmp_path}/nonces.sqlite3"
    return create_database(url), create_database(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_processes_sending_from_one_key_never_share_a_nonce(mempool, backend, tmp_path):
    name = f"relayer:{mempool.deployer.address.lower()}"
    dbs = _databases(backend, tmp_path)
    processes = [
        Relayer(mempool.w3, mempool.deployer.account, fees=FAST, nonce_lock=DatabaseMutex(db, name))
        for db in dbs
    ]
    to = chain_key(f"nonce-target-{backend}").address
    try:
        receipts = await asyncio.gather(
            *(r.send(_mint(mempool, to), what="mint") for r in processes * PER_PROCESS)
        )
    finally:
        for db in dbs:
            await db.dispose()
    assert all(r["status"] == 1 for r in receipts)
    nonces = [
        (await mempool.w3.eth.get_transaction(r["transactionHash"]))["nonce"] for r in receipts
    ]
    assert len(set(nonces)) == 2 * PER_PROCESS
    token = mempool.w3.eth.contract(
        address=mempool.deployment.token, abi=load_artifact("MockUSDC").abi
    )
    assert await token.functions.balanceOf(to).call() == 2 * PER_PROCESS


async def test_without_the_shared_lock_two_processes_collide(mempool):
    first, second = (Relayer(mempool.w3, mempool.deployer.account, fees=FAST) for _ in "ab")
    count = await mempool.w3.eth.get_transaction_count(mempool.deployer.address, "pending")
    first._nonce = second._nonce = count  # each process counted before the other sent
    to = chain_key("nonce-collision").address
    outcomes = await asyncio.gather(
        first.send(_mint(mempool, to), what="mint"),
        second.send(_mint(mempool, to), what="mint"),
        return_exceptions=True,
    )
    assert any(isinstance(o, ChainError) for o in outcomes), outcomes
