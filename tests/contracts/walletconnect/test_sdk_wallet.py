"""The official WalletKit (@reown/walletkit 1.6, sign-client 2.25) as the user's wallet against
our dapp client (``WalletConnectWallet``) on the local relay, plain and TLS: one Node process
per scenario. Proposal reject, pairing (the wallet settles with the relay's
``wc_approveSession``), EIP-3009 typed data and personal_sign recovered to the wallet's address,
a request rejected in the wallet, pings both ways, an account change by event and by update,
``wc_sessionExtend {}`` (the session lives past its first expiry), a dropped and a restarted
relay, and deletes from both sides."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from contracts import typed_data as td
from core.ports import SignatureRequest
from rigshare_dev.walletconnect.local_relay import LocalRelay
from tests.contracts.walletconnect.sdk import SdkPeer
from tests.contracts.walletconnect.support import PROJECT, make_wallet, self_signed, until

CHAIN = "eip155:137"
USDC = td.Eip712Domain("USD Coin", "2", 137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359")
ESCROW = "0x" + "e5" * 20
DAY = 86_400


def namespaces(*addresses: str) -> dict:
    return {
        "eip155": {
            "chains": [CHAIN],
            "accounts": [f"{CHAIN}:{a}" for a in addresses],
            "methods": ["eth_signTypedData_v4", "personal_sign"],
            "events": ["chainChanged", "accountsChanged"],
        }
    }


def deposit(renter: str, now: int) -> SignatureRequest:
    """What /rent asks the renter to sign: USDC's EIP-3009 ReceiveWithAuthorization."""
    typed = td.receive_with_authorization(
        USDC, renter, ESCROW, 12_500_000, 0, now + 900, bytes(range(32))
    )
    return SignatureRequest("open", "eth_signTypedData_v4", typed, "Pay 12.50 USDC")


@pytest.fixture(params=["ws", "wss"])
async def scene(request, db, wc_clock, tmp_path):
    tls = self_signed(tmp_path) if request.param == "wss" else None
    relay = await LocalRelay(project_id=PROJECT, ssl=tls[0] if tls else None).start()
    dapp, events = make_wallet(db, relay.url, wc_clock, ssl_ctx=tls[1] if tls else None)
    await dapp.start()
    sdk = SdkPeer("wallet", cafile=tls[2] if tls else None)
    account = Account.create()
    try:
        info = await sdk.start(relay.url, PROJECT, key="0x" + bytes(account.key).hex())
        assert info["address"].lower() == account.address.lower()
        yield relay, dapp, events, sdk, account
        await sdk.stop()  # fails when the SDK tried to reach anything but loopback
    finally:
        await sdk.stop()
        await dapp.stop()
        await relay.stop()


async def pair(dapp, sdk, wc_clock, request_id: str) -> dict:
    link = await dapp.connect(1, request_id, wc_clock.now() + 300)
    await sdk.call("pair", uri=link.wc_uri)
    return await sdk.event("session_proposal")


async def answer(sdk, action: str) -> dict:
    asked = await sdk.event("session_request")
    await sdk.call("respond", topic=asked["topic"], id=asked["id"], action=action,
                   request=asked["request"])  # fmt: skip
    return asked


async def test_walletkit_as_the_wallet(scene, wc_clock):
    relay, dapp, events, sdk, account = scene
    # a proposal the user rejects in the wallet
    proposal = await pair(dapp, sdk, wc_clock, "c0")
    await sdk.call("reject", id=proposal["id"])
    assert await events.wait("failed") == ("failed", "c0", "rejected in the wallet")

    # pairing: optionalNamespaces only, settled through wc_approveSession
    proposal = await pair(dapp, sdk, wc_clock, "c1")
    assert proposal["params"]["requiredNamespaces"] == {}
    offered = proposal["params"]["optionalNamespaces"]["eip155"]
    assert offered["chains"] == [CHAIN]
    assert {"eth_signTypedData_v4", "personal_sign"} <= set(offered["methods"])
    session = await sdk.call("approve", id=proposal["id"], namespaces=namespaces(account.address))
    assert await events.wait("connected") == ("connected", 1, "c1", account.address)
    assert "wc_approveSession" in relay.methods
    topic = session["topic"]

    # EIP-3009 typed data and personal_sign, recovered to the wallet's address
    typed = deposit(account.address, wc_clock.now())
    assert (await dapp.request_signature(1, "r1", typed, wc_clock.now() + 300)).wc_uri is None
    asked = await answer(sdk, "sign")
    assert asked["chainId"] == CHAIN and asked["request"]["method"] == "eth_signTypedData_v4"
    assert asked["request"]["params"][0] == account.address
    _, rid, signature = await events.wait("signed")
    signable = encode_typed_data(full_message=dict(typed.payload))
    assert rid == "r1" and Account.recover_message(signable, signature=signature) == account.address
    text = SignatureRequest("connect", "personal_sign", {"message": "I am the renter"}, "Prove it")
    await dapp.request_signature(1, "r2", text, wc_clock.now() + 300)
    await answer(sdk, "sign")
    _, rid, signature = await events.wait("signed", 2)
    signable = encode_defunct(text="I am the renter")
    assert rid == "r2" and Account.recover_message(signable, signature=signature) == account.address

    # rejected in the wallet; pings both ways
    await dapp.request_signature(1, "r3", text, wc_clock.now() + 300)
    await answer(sdk, "reject")
    assert await events.wait("failed", 2) == ("failed", "r3", "rejected in the wallet")
    assert await dapp.ping(1, 5.0) is True
    assert await sdk.call("ping", topic=topic) is True

    # an account change by event, and back by wc_sessionUpdate
    other = Account.create()
    await sdk.call("emit", topic=topic, name="accountsChanged", chainId=CHAIN,
                   data=[f"{CHAIN}:{other.address}"])  # fmt: skip
    assert await events.wait("connected", 2) == ("connected", 1, None, other.address)
    await sdk.call("update", topic=topic, namespaces=namespaces(account.address))
    assert await events.wait("connected", 3) == ("connected", 1, None, account.address)

    # the relay drops every connection, then restarts on the same port: the session goes on
    # (WalletKit holds each request for a second after the one before: few requests here)
    await relay.drop()
    await until(lambda: dapp.relay.connects >= 2)
    assert await dapp.ping(1, 5.0) is True
    assert await sdk.call("ping", topic=topic, within=20) is True
    port = relay.port
    await relay.stop()
    await relay.start(port)
    await until(lambda: dapp.relay.connected.is_set(), within=15)
    await dapp.request_signature(1, "r6", text, wc_clock.now() + 300)
    await answer(sdk, "sign")
    assert (await events.wait("signed", 3))[1] == "r6"

    # the wallet deletes the session; a new one is deleted by us
    await sdk.call("disconnect", topic=topic)
    assert await events.wait("disconnected") == ("disconnected", 1, "the wallet disconnected")
    assert dapp.session_of(1) is None
    proposal = await pair(dapp, sdk, wc_clock, "c2")
    session = await sdk.call("approve", id=proposal["id"], namespaces=namespaces(account.address))
    assert await events.wait("connected", 4) == ("connected", 1, "c2", account.address)
    topic = session["topic"]

    # wc_sessionExtend with params {}: now + 7 days by our clock, alive past the old expiry
    first_expiry = dapp.session_of(1)[2]
    wc_clock.advance(3 * DAY)
    await sdk.call("extend", topic=topic)
    assert dapp.session_of(1)[2] == wc_clock.now() + 7 * DAY
    wc_clock.advance(first_expiry - wc_clock.now() + DAY)
    await dapp.client.sweep()
    assert dapp.session_of(1) is not None and len(events.of("disconnected")) == 1
    assert await dapp.ping(1, 5.0) is True  # both sides still hold it

    # we delete the session
    await dapp.disconnect(1)
    assert (await sdk.event("session_delete"))["topic"] == session["topic"]
    assert not events.of("failed")[2:]
