"""The dapp client against our own wallet peer: what pyWalletConnect cannot do (JS ordering,
events, updates, extensions, type-1 envelopes, wallet-side pings), settle validation, expiries,
and forged or tampered messages that must change nothing."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from contracts import typed_data as td
from contracts.walletconnect import protocol as p
from contracts.walletconnect.crypto import random_key, seal, seal_json
from contracts.walletconnect.relay import RelayClient
from contracts.walletconnect.relay_auth import new_seed
from contracts.walletconnect.wallet import NOT_A_SIGNATURE
from core.errors import WalletError
from core.ports import SignatureRequest
from rigshare_dev.walletconnect.peer import WalletPeer
from tests.contracts.walletconnect.support import PROJECT, drain, make_wallet, until


@pytest.fixture
async def dapp(db, relay, wc_clock):
    wallet, events = make_wallet(db, relay.url, wc_clock)
    await wallet.start()
    peers: list[WalletPeer] = []

    async def new_peer(**kw) -> WalletPeer:
        kw.setdefault("now", wc_clock.now)
        kw.setdefault("timeout", 3.0)
        peer = await WalletPeer(relay.url, project_id=PROJECT, **kw).start()
        peers.append(peer)
        return peer

    yield wallet, events, new_peer
    for peer in peers:
        await peer.stop()
    await wallet.stop()


async def linked(wallet, events, new_peer, user_id=1, **approve):
    peer = await new_peer()
    link = await wallet.connect(user_id, f"c{user_id}", wallet.clock.now() + 300)
    answer = await peer.approve(await peer.pair(link.wc_uri), **approve)
    assert answer["result"] is True
    await events.wait("connected")
    return peer


def stop_request(now: int) -> SignatureRequest:
    typed = td.stop_message(td.escrow_domain(137, "0x" + "ab" * 20), b"\x07" * 32, True, now + 600)
    return SignatureRequest("stop", "eth_signTypedData_v4", typed, "Stop rental")


def personal(text: str) -> SignatureRequest:
    return SignatureRequest("connect", "personal_sign", {"message": text}, "Prove it")


async def test_js_ordering_unpadded_base64_and_requests_queued_until_settle(dapp, relay, wc_clock):
    wallet, events, new_peer = dapp
    request = stop_request(wc_clock.now())
    first = await wallet.request_signature(1, "r1", request, wc_clock.now() + 300)
    second = await wallet.request_signature(1, "r2", personal("hi"), wc_clock.now() + 300)
    assert first.wc_uri and second.wc_uri == first.wc_uri  # one pairing for both
    peer = await new_peer(padded=False)
    await peer.approve(await peer.pair(first.wc_uri))  # settle before the proposal answer
    assert await events.wait("connected") == ("connected", 1, None, peer.address)
    tags = [m.tag for m in relay.published]
    assert tags.index(1102) < tags.index(1101)
    assert any(not m.message.endswith("=") and len(m.message) % 4 for m in relay.published)
    sig = await peer.sign()
    await peer.sign()
    _, rid, signature = await events.wait("signed")
    assert (rid, signature) == ("r1", sig)
    signable = encode_typed_data(full_message=dict(request.payload))
    assert Account.recover_message(signable, signature=signature) == peer.address
    assert (await events.wait("signed", 2))[1] == "r2"
    later = await wallet.request_signature(1, "r3", personal("again"), wc_clock.now() + 300)
    assert later.wc_uri is None  # paired once: straight to the wallet


async def test_events_updates_extensions_and_pings(dapp, db, wc_clock):
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer, expiry=wc_clock.now() + 3600)
    new = Account.create()
    assert (await peer.change_account(new))["result"] is True
    assert await events.wait("connected", 2) == ("connected", 1, None, new.address)
    assert wallet.session_of(1)[0] == new.address
    assert (await peer.emit("chainChanged", 137))["result"] is True
    assert (await peer.emit("somethingElse", 1))["error"]["code"] == p.INVALID_EVENT
    bad = await peer.update(["eip155:1:" + peer.address], ["personal_sign"])
    assert bad["error"]["code"] == p.INVALID_UPDATE and wallet.session_of(1)[0] == new.address
    other = Account.create()
    methods = ["personal_sign", "eth_signTypedData_v4"]
    assert (await peer.update([f"eip155:137:{other.address}"], methods))["result"] is True
    assert wallet.session_of(1)[0] == other.address
    expiry = wallet.session_of(1)[2]
    assert (await peer.extend(expiry - 10))["error"]["code"] == p.INVALID_EXTEND
    assert (await peer.call("wc_sessionExtend", []))["error"]["code"] == p.INVALID_EXTEND
    assert wallet.session_of(1)[2] == expiry
    assert (await peer.extend(expiry + 3600))["result"] is True  # the older explicit expiry
    assert wallet.session_of(1)[2] == expiry + 3600
    assert (await peer.extend(wc_clock.now() + 8 * 86400))["result"] is True  # cut to 7 days
    assert wallet.session_of(1)[2] == wc_clock.now() + 7 * 86400
    wc_clock.advance(86400)
    assert (await peer.extend())["result"] is True  # params {}, as every JS SDK sends it
    expiry = wc_clock.now() + 7 * 86400
    assert wallet.session_of(1)[2] == expiry
    assert (await peer.ping())["result"] is True  # wallet -> dapp
    assert await wallet.ping(1, 3.0) is True  # dapp -> wallet
    assert (await peer.call("wc_doSomething", {}))["error"]["code"] == p.INVALID_METHOD
    async with wallet.store.uow() as uow:  # what changed is stored
        row = await uow.wallet_sessions.get(1)
    assert (row.address, row.expiry) == (other.address, expiry)


async def test_a_session_in_use_is_extended_before_it_runs_out(dapp, db, wc_clock):
    """Neither wallets nor the JS dapp extend by themselves: a user active every day would
    otherwise have to pair again a week after pairing."""
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer)
    await wallet.request_signature(1, "r1", personal("early"), wc_clock.now() + 300)
    await peer.sign()
    await events.wait("signed")
    assert peer.extended is None  # a week left: nothing asked
    wc_clock.advance(6 * 86400)
    await wallet.request_signature(1, "r2", personal("late"), wc_clock.now() + 300)
    await peer.sign()
    await events.wait("signed")
    week = wc_clock.now() + 7 * 86400
    await until(lambda: wallet.session_of(1)[2] == week)
    assert peer.extended == {"expiry": week}
    async with wallet.store.uow() as uow:  # kept across a restart
        assert (await uow.wallet_sessions.get(1)).expiry == week


@pytest.mark.parametrize(
    "approve, reason",
    [
        ({"controller_key": "11" * 32}, "the controller is not the wallet that approved"),
        ({"accounts": ["eip155:1:0x" + "12" * 20]}, "no account on chain eip155:137"),
        ({"methods": ["eth_signTypedData_v4"]}, "does not offer personal_sign"),
        ({"expiry": 1}, "the session expiry has passed"),
    ],
)
async def test_a_bad_settle_is_refused_and_deleted(dapp, approve, reason):
    wallet, events, new_peer = dapp
    peer = await new_peer()
    link = await wallet.connect(1, "c1", wallet.clock.now() + 300)
    answer = await peer.approve(await peer.pair(link.wc_uri), **approve)
    assert reason in answer["error"]["message"]
    _, rid, why = await events.wait("failed")
    assert rid == "c1" and why.startswith("the wallet session was refused") and reason in why
    await until(lambda: peer.deleted is not None)
    assert peer.deleted["code"] == p.SESSION_SETTLEMENT_FAILED
    assert 1 not in wallet.client.links and not wallet.client.by_topic
    async with wallet.store.uow() as uow:
        assert await uow.wallet_sessions.get(1) is None


async def test_session_expiry_ends_the_session_and_its_requests(dapp, wc_clock):
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer, expiry=wc_clock.now() + 100)
    peer.agrees_to_extend = False  # the request below asks for more time; this wallet says no
    await wallet.request_signature(1, "r1", personal("x"), wc_clock.now() + 300)
    await until(lambda: peer.extended is not None)
    wc_clock.advance(101)
    assert await events.wait("disconnected") == ("disconnected", 1, "the session expired")
    assert await events.wait("failed") == ("failed", "r1", "the wallet session ended")
    await until(lambda: peer.deleted is not None)  # not silently: the wallet is told as well
    assert peer.deleted == {"code": p.USER_DISCONNECTED, "message": "Session expired."}
    async with wallet.store.uow() as uow:
        assert await uow.wallet_sessions.get(1) is None


async def test_an_expired_pairing_fails_and_a_late_approval_changes_nothing(dapp, wc_clock):
    wallet, events, new_peer = dapp
    link = await wallet.connect(1, "c1", wc_clock.now() + 120)
    wc_clock.advance(121)
    assert await events.wait("failed") == ("failed", "c1", "the wallet did not answer in time")
    peer = await new_peer(timeout=0.5)
    proposal = await peer.pair(link.wc_uri)  # the relay still holds the proposal
    with pytest.raises(TimeoutError):
        await peer.approve(proposal)
    assert not events.of("connected") and not wallet.client.links
    async with wallet.store.uow() as uow:
        assert await uow.wallet_sessions.get(1) is None


async def test_forged_and_tampered_messages_change_nothing(dapp, relay, wc_clock):
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer)
    await wallet.request_signature(1, "r1", personal("real"), wc_clock.now() + 300)
    item = await peer.next_request()
    topic, key = peer.session_topic, peer.keys[peer.session_topic]
    before = (wallet.session_of(1), [vars(r) for r in wallet.client.links[1].requests])
    forged_answer = p.result(item.id, "0x" + "11" * 65)
    real = seal_json(key, forged_answer)
    flipped = bytearray(base64.b64decode(real))
    flipped[-1] ^= 1
    forger = RelayClient(relay.url, PROJECT, new_seed(), lambda m: None)
    await forger.start()
    try:
        for message in [
            "!!! not base64 !!!",
            seal_json(random_key(), forged_answer),  # a key that is not the session's
            base64.b64encode(bytes(flipped)).decode(),  # a bit flipped in the tag
            seal_json(key, forged_answer, sender_public=random_key()),  # wrong sender key
            seal(key, b"{not json"),
            seal_json(key, {"jsonrpc": "2.0", "id": "x", "result": True}),
            seal_json(key, {"jsonrpc": "2.0", "id": 5, "result": 1, "error": {}}),
            seal_json(key, p.result(123456, "0x" + "22" * 65)),  # answers nothing we asked
            base64.b64encode(b"\x02" + json.dumps(forged_answer).encode()).decode(),
        ]:
            await forger.publish(topic, message, tag=1109, ttl=300)
        await forger.publish("ab" * 32, seal_json(key, forged_answer), tag=1109, ttl=300)
        await drain(wallet)
    finally:
        await forger.stop()
    assert not events.of("signed") and not events.of("failed")
    assert (wallet.session_of(1), [vars(r) for r in wallet.client.links[1].requests]) == before
    # the wallet itself may use a type-1 envelope with its own key: accepted
    signature = peer.signature_for(item)
    await peer.publish(topic, p.result(item.id, signature), 1109, sender_public=peer._own.public)
    assert await events.wait("signed") == ("signed", "r1", signature)


async def test_answers_that_are_not_signatures_and_wallet_errors(dapp, wc_clock):
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer)
    for rid in ("r1", "r2", "r3"):
        await wallet.request_signature(1, rid, personal(rid), wc_clock.now() + 300)
    await peer.respond(await peer.next_request(), "0x1234")
    await peer.respond(await peer.next_request(), error=(p.UNSUPPORTED_METHODS, "no"))
    await peer.refuse(await peer.next_request(), code=p.USER_REJECTED)
    assert await events.wait("failed", 3)
    assert events.of("failed") == [
        ("failed", "r1", NOT_A_SIGNATURE),
        ("failed", "r2", "the wallet does not support this request"),
        ("failed", "r3", "rejected in the wallet"),
    ]


async def test_connect_again_replaces_the_session_and_deletes_the_old_one(dapp, wc_clock):
    wallet, events, new_peer = dapp
    old = await linked(wallet, events, new_peer)
    await wallet.request_signature(1, "r1", personal("x"), wc_clock.now() + 300)
    await old.next_request()
    link = await wallet.connect(1, "c2", wc_clock.now() + 300)
    assert link.wc_uri
    await until(lambda: old.deleted is not None)
    assert old.deleted["code"] == p.USER_DISCONNECTED
    assert await events.wait("failed") == ("failed", "r1", "the wallet session ended")
    assert wallet.session_of(1) is None
    new = await new_peer()
    await new.approve(await new.pair(link.wc_uri))
    assert await events.wait("connected", 2) == ("connected", 1, "c2", new.address)


async def test_delete_from_the_wallet_and_from_us(dapp, wc_clock):
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer, user_id=1)
    await peer.delete()
    assert await events.wait("disconnected") == ("disconnected", 1, "the wallet disconnected")
    assert wallet.session_of(1) is None
    other = await linked(wallet, events, new_peer, user_id=2)
    await wallet.disconnect(2)
    await until(lambda: other.deleted is not None)
    assert other.deleted == {"code": 6000, "message": "User disconnected."}
    assert len(events.of("disconnected")) == 1
    assert await wallet.client.disconnect(2) is False  # nothing left: harmless


async def test_bad_requests_raise_wallet_error_and_change_nothing(dapp, relay, wc_clock):
    wallet, events, new_peer = dapp
    now = wc_clock.now()
    with pytest.raises(WalletError, match="expired"):
        await wallet.request_signature(1, "r1", personal("x"), now)
    tx = SignatureRequest("open", "eth_sendTransaction", {"to": "0x"}, "tx")
    with pytest.raises(WalletError, match="eth_sendTransaction"):
        await wallet.request_signature(1, "r1", tx, now + 60)
    with pytest.raises(WalletError):
        await wallet.request_signature(
            1, "r1", SignatureRequest("x", "personal_sign", {}, ""), now + 60
        )
    await relay.stop()
    await until(lambda: not wallet.relay.connected.is_set())
    with pytest.raises(WalletError, match="cannot be reached"):
        await wallet.connect(1, "c1", now + 60)
    with pytest.raises(WalletError, match="cannot be reached"):
        await wallet.request_signature(1, "r1", personal("x"), now + 60)
    assert not wallet.client.links
    async with wallet.store.uow() as uow:
        assert await uow.wallet_sessions.all() == []


async def test_a_pairing_in_progress_survives_a_restart(db, relay, wc_clock):
    wallet, _ = make_wallet(db, relay.url, wc_clock)
    await wallet.start()
    link = await wallet.connect(1, "c1", wc_clock.now() + 300)
    await wallet.request_signature(1, "r1", personal("queued"), wc_clock.now() + 300)
    await wallet.stop()  # down before the wallet even scanned the code
    peer = await WalletPeer(relay.url, project_id=PROJECT, now=wc_clock.now, timeout=5).start()
    again, events = make_wallet(db, relay.url, wc_clock)
    try:
        approving = asyncio.create_task(peer.approve(await peer.pair(link.wc_uri)))
        await until(lambda: any(m.tag == 1101 for m in relay.published))
        await again.start()  # finds the answer and the settle in the relay's mailbox
        assert (await approving)["result"] is True
        assert await events.wait("connected") == ("connected", 1, "c1", peer.address)
        await peer.sign()  # the request queued before the restart reaches the wallet
        assert (await events.wait("signed"))[1] == "r1"
    finally:
        await again.stop()
        await peer.stop()


async def test_a_session_on_another_chain_is_not_used(dapp, wc_clock):
    wallet, events, new_peer = dapp
    await linked(wallet, events, new_peer)
    wallet._chain_id = 80002  # the escrow moved to Amoy: the old session's accounts do not apply
    link = await wallet.request_signature(1, "r1", personal("x"), wc_clock.now() + 300)
    assert link.wc_uri is not None
    assert wallet.client.links[1].pairing.chain_id == 80002


async def test_a_wallet_that_settles_through_the_relay_call(dapp, wc_clock):
    """A wallet on a current SDK approves with the relay's wc_approveSession (one call: the
    proposal's answer and the settle); the session works like any other."""
    wallet, events, new_peer = dapp
    peer = await linked(wallet, events, new_peer, relay_approve=True)
    await wallet.request_signature(1, "r1", personal("hello"), wc_clock.now() + 300)
    signature = await peer.sign()
    assert await events.wait("signed") == ("signed", "r1", signature)


async def test_an_expiry_while_the_relay_is_away_does_not_wait_for_it(dapp, relay, wc_clock):
    wallet, events, new_peer = dapp
    await linked(wallet, events, new_peer, expiry=wc_clock.now() + 100)
    await relay.stop()
    await until(lambda: not wallet.relay.connected.is_set())
    wc_clock.advance(101)  # the sweep runs every 50 ms; telling the wallet would wait 3 s
    assert await events.wait("disconnected", within=1.5) == (
        "disconnected",
        1,
        "the session expired",
    )
