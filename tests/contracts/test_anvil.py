"""The escrow over real JSON-RPC: anvil (npm, pinned in contracts/toolchain) on 127.0.0.1, AsyncWeb3
(the node is the session fixture ``anvil_url`` of conftest.py).

Deploys the committed artifact, runs a gasless rental (the renter only signs: EIP-3009 open and
a Stop with settle, both relayed) and checks a relayer cannot alter the signed terms.
"""

from __future__ import annotations

import dataclasses

import pytest
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from contracts.artifacts import load_artifact
from contracts.typed_data import (
    Eip712Domain,
    RentalTerms,
    escrow_domain,
    listing_id_bytes,
    open_authorization,
    rental_id,
    split_signature,
    stop_message,
)
from tests.contracts.sandbox import USDC, error_selector, sandbox_account


async def _deploy(w3: AsyncWeb3, name: str, sender: str, *args):
    art = load_artifact(name)
    tx = (
        await w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        .constructor(*args)
        .transact({"from": sender})
    )
    receipt = await w3.eth.wait_for_transaction_receipt(tx)
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


async def _send(w3: AsyncWeb3, call, sender: str):
    receipt = await w3.eth.wait_for_transaction_receipt(await call.transact({"from": sender}))
    assert receipt["status"] == 1
    return receipt


async def test_gasless_rental_over_json_rpc(anvil_url: str) -> None:
    w3 = AsyncWeb3(AsyncHTTPProvider(anvil_url))
    assert await w3.is_connected()
    chain_id = await w3.eth.chain_id
    deployer, operator, arbiter, treasury, provider = (await w3.eth.accounts)[:5]
    renter = sandbox_account("renter")  # holds USDC but no ETH at all

    token = await _deploy(w3, "MockUSDC", deployer, deployer)
    settings = (deployer, operator, arbiter, treasury, 1200, USDC, 600, 3600, 86400, 7 * 86400)
    escrow = await _deploy(w3, "RentalEscrow", deployer, token.address, settings)
    await _send(w3, token.functions.mint(renter.address, 100 * USDC), deployer)
    assert await w3.eth.get_balance(renter.address) == 0

    _, name, version, _, verifying, _, _ = await token.functions.eip712Domain().call()
    token_domain = Eip712Domain(name, version, chain_id, verifying)
    now = (await w3.eth.get_block("latest"))["timestamp"]
    terms = RentalTerms(
        provider=provider,
        price_per_hour=2 * USDC,
        deposit=6 * USDC,
        listing_id=listing_id_bytes(4090),
        quote_expiry=now + 900,
        salt=b"\x07" * 32,
    )
    typed = open_authorization(terms, renter.address, token_domain, escrow.address)
    v, r, s = split_signature(bytes(renter.sign_typed_data(full_message=typed).signature))

    # a relayer that raises the price is refused by the token's signature check
    tampered = dataclasses.replace(terms, price_per_hour=3 * USDC)
    with pytest.raises(ContractLogicError) as excinfo:
        await escrow.functions.openWithAuthorization(
            tampered.as_tuple(), renter.address, v, r, s
        ).transact({"from": operator})
    selector = error_selector(token.abi, "ERC3009InvalidSignature")
    assert selector.hex() in str(excinfo.value.data)

    call = escrow.functions.openWithAuthorization(terms.as_tuple(), renter.address, v, r, s)
    opened = await _send(w3, call, operator)
    assert opened["gasUsed"] <= 190_000
    rid = rental_id(terms, renter.address, chain_id, escrow.address)
    (event,) = escrow.events.RentalOpened().process_receipt(opened, errors=DISCARD)
    assert event["args"]["id"] == rid

    started = await _send(w3, escrow.functions.start(rid), operator)
    started_at = (await w3.eth.get_block(started["blockNumber"]))["timestamp"]
    await w3.provider.make_request("evm_setNextBlockTimestamp", [started_at + 1800])

    deadline = started_at + 3600
    stop = stop_message(escrow_domain(chain_id, escrow.address), rid, True, deadline)
    signature = bytes(renter.sign_typed_data(full_message=stop).signature)
    settled = await _send(
        w3, escrow.functions.stopWithSignature(rid, True, deadline, signature), operator
    )
    (ev,) = escrow.events.RentalSettled().process_receipt(settled, errors=DISCARD)
    assert (ev["args"]["providerNet"], ev["args"]["fee"], ev["args"]["refund"]) == (
        880_000,
        120_000,
        5 * USDC,
    )
    assert await token.functions.balanceOf(provider).call() == 880_000
    assert await token.functions.balanceOf(renter.address).call() == 99 * USDC
    assert await escrow.functions.feesAccrued().call() == 120_000
    logs = await escrow.events.RentalSettled().get_logs(from_block=0)
    assert [log["args"]["id"] for log in logs] == [rid]
    assert await w3.eth.get_balance(renter.address) == 0  # the renter never paid gas
