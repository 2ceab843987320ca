"""The official sign-client (2.25) as the dapp against our wallet peer (``WalletPeer``, what the
demo and the benchmark use as the renter's wallet) on the local relay, plain and TLS: one Node
process per scenario. The SDK proposes with the relay's ``wc_proposeSession``; our peer settles
with ``wc_approveSession`` and, in a second session, the older way (settle, then answer).
EIP-3009 typed data and personal_sign recovered to the peer's address, a rejected request,
pings both ways, an update, ``wc_sessionExtend {}``, an account event (which a JS dapp does
not answer), a dropped relay, and deletes from both sides."""

from __future__ import annotations

import asyncio
import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from contracts import typed_data as td
from rigshare_dev.walletconnect.local_relay import LocalRelay
from rigshare_dev.walletconnect.peer import WalletPeer
from tests.contracts.walletconnect.sdk import SdkPeer
from tests.contracts.walletconnect.support import PROJECT, self_signed, until

CHAIN = "eip155:137"
USDC = td.Eip712Domain("USD Coin", "2", 137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359")
OFFER = {
    "eip155": {
        "chains": [CHAIN],
        "methods": ["eth_signTypedData_v4", "personal_sign"],
        "events": ["chainChanged", "accountsChanged"],
    }
}


@pytest.fixture(params=["ws", "wss"])
async def scene(request, tmp_path):
    tls = self_signed(tmp_path) if request.param == "wss" else None
    relay = await LocalRelay(project_id=PROJECT, ssl=tls[0] if tls else None).start()
    sdk = SdkPeer("dapp", cafile=tls[2] if tls else None)
    peers: list[WalletPeer] = []

    async def new_peer() -> WalletPeer:
        peer = WalletPeer(relay.url, project_id=PROJECT, ssl=tls[1] if tls else None, timeout=10)
        peers.append(await peer.start())
        return peer

    try:
        await sdk.start(relay.url, PROJECT)
        yield relay, sdk, new_peer
        await sdk.stop()  # fails when the SDK tried to reach anything but loopback
    finally:
        await sdk.stop()
        for peer in peers:
            await peer.stop()
        await relay.stop()


async def connect(sdk, peer, **approve) -> dict:
    uri = (await sdk.call("connect", optionalNamespaces=OFFER))["uri"]
    proposal = await peer.pair(uri)
    assert proposal.params["optionalNamespaces"] == OFFER
    assert (await peer.approve(proposal, **approve))["result"] is True
    session = await sdk.event("session_connect")
    assert session["namespaces"]["eip155"]["accounts"] == [f"{CHAIN}:{peer.address}"]
    return session


async def ask(sdk, peer, topic: str, method: str, params: list, how: str = "sign") -> dict:
    """A request of the SDK dapp, answered by our peer."""
    asking = asyncio.create_task(
        sdk.call("request", topic=topic, chainId=CHAIN, method=method, params=params)
    )
    item = await peer.next_request()
    assert item.params["request"] == {"method": method, "params": params} | (
        {"expiryTimestamp": item.params["request"]["expiryTimestamp"]}
        if "expiryTimestamp" in item.params["request"]
        else {}
    )
    await (peer.sign(item) if how == "sign" else peer.refuse(item, code=4001))
    return await asking


async def test_sign_client_as_the_dapp(scene):
    relay, sdk, new_peer = scene
    peer = await new_peer()
    session = await connect(sdk, peer, relay_approve=True)
    assert {"wc_proposeSession", "wc_approveSession"} <= set(relay.methods)
    topic = session["topic"]

    # EIP-3009 typed data and personal_sign, recovered to our peer's address; a rejection
    typed = td.receive_with_authorization(
        USDC, peer.address, "0x" + "e5" * 20, 12_500_000, 0, 2_000_000_000, bytes(32)
    )
    answer = await ask(sdk, peer, topic, "eth_signTypedData_v4", [peer.address, td.to_json(typed)])
    signable = encode_typed_data(full_message=typed)
    assert Account.recover_message(signable, signature=answer["result"]) == peer.address
    message = "0x" + b"I am the renter".hex()
    answer = await ask(sdk, peer, topic, "personal_sign", [message, peer.address])
    signable = encode_defunct(text="I am the renter")
    assert Account.recover_message(signable, signature=answer["result"]) == peer.address
    answer = await ask(sdk, peer, topic, "personal_sign", [message, peer.address], how="reject")
    assert answer["error"]["code"] == 4001

    # pings both ways; update, extend with params {}, an event without an answer
    assert await sdk.call("ping", topic=topic) is True
    assert (await peer.ping())["result"] is True
    other = Account.create()
    methods = ["eth_signTypedData_v4", "personal_sign"]
    assert (await peer.update([f"{CHAIN}:{other.address}"], methods))["result"] is True
    updated = await sdk.event("session_update")
    assert updated["params"]["namespaces"]["eip155"]["accounts"] == [f"{CHAIN}:{other.address}"]
    assert (await peer.extend())["result"] is True
    assert (await sdk.event("session_extend"))["topic"] == topic
    await peer.change_account(other, wait=False)
    event = await sdk.event("session_event")
    assert event["params"]["event"] == {
        "name": "accountsChanged",
        "data": [f"{CHAIN}:{other.address}"],
    }

    # the relay drops every connection: the session goes on
    await relay.drop()
    await until(lambda: peer.relay.connects >= 2)
    answer = await ask(sdk, peer, topic, "personal_sign", [message, other.address])
    assert Account.recover_message(signable, signature=answer["result"]) == other.address

    # the dapp deletes the session
    await sdk.call("disconnect", topic=topic)
    await until(lambda: peer.deleted is not None)
    assert peer.deleted == {"code": 6000, "message": "User disconnected."}

    # a second wallet settles the older way and deletes the session itself
    second = await new_peer()
    session = await connect(sdk, second, settle_first=True)
    await second.delete()
    assert (await sdk.event("session_delete"))["topic"] == session["topic"]
    sessions = await sdk.call("sessions")
    assert [s["topic"] for s in sessions] == [], json.dumps(sessions)
