"""The local relay (what tests and the demo use) and the relay client's protocol edges."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

from contracts.walletconnect.crypto import random_key, topic_of
from contracts.walletconnect.relay import RelayClient, RelayRefused
from contracts.walletconnect.relay_auth import new_seed, sign_jwt
from rigshare_dev.walletconnect.local_relay import LocalRelay
from tests.contracts.walletconnect.support import PROJECT, until


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def timed():
    clock = Clock()
    relay = await LocalRelay(project_id=PROJECT, now=clock).start()
    yield relay, clock
    await relay.stop()


async def client(relay: LocalRelay, got: list | None = None, **kw) -> RelayClient:
    c = RelayClient(relay.url, PROJECT, new_seed(), (got if got is not None else []).append, **kw)
    await c.start()
    return c


async def test_mailbox_keeps_messages_for_their_ttl_and_never_echoes(timed):
    relay, clock = timed
    topic = topic_of(random_key())
    pub_got: list = []
    publisher = await client(relay, pub_got)
    await publisher.subscribe([topic])
    await publisher.publish(topic, "kept", tag=1100, ttl=300)
    await publisher.publish(topic, "short", tag=1108, ttl=10)
    clock.t += 11
    got: list = []
    late = await client(relay, got)
    await late.subscribe([topic])  # answered first, then the mailbox
    await until(lambda: got)
    assert [(m.message, m.tag) for m in got] == [("kept", 1100)]
    await publisher.publish(topic, "live", tag=1109, ttl=300)
    await until(lambda: len(got) == 2)
    assert got[1].message == "live" and pub_got == []  # never back to the publisher
    await late.unsubscribe([topic])
    await publisher.publish(topic, "after unsubscribe", tag=1109, ttl=300)
    await publisher.subscribe([topic_of(random_key())])  # a round trip: the push had its chance
    assert len(got) == 2
    for c in (publisher, late):
        await c.stop()


async def test_fetch_returns_what_waits_and_marks_it_delivered(timed):
    relay, _ = timed
    topic = topic_of(random_key())
    publisher = await client(relay)
    await publisher.publish(topic, "waiting", tag=1, ttl=300)
    got: list = []
    reader = await client(relay, got)
    reader.topics.add(topic)
    await relay.drop(reader.client_id)  # the reconnect fetches, then subscribes
    await until(lambda: reader.connects == 2 and got)
    await reader.subscribe([topic_of(random_key())])
    assert [m.message for m in got] == ["waiting"]  # once, not again from the subscribe
    for c in (publisher, reader):
        await c.stop()


async def test_the_relay_refuses_other_projects_and_bad_tokens(relay):
    wrong = RelayClient(relay.url, "someone-else", new_seed(), lambda m: None)
    with pytest.raises(RelayRefused, match="401"):
        await wrong.start(wait=1.0)
    await wrong.stop()
    forged = sign_jwt(new_seed(), sub="x", aud=relay.url, iat=1_000_000)  # expired long ago
    async with aiohttp.ClientSession() as session:
        for auth in ("", "a.b.c", forged):
            url = f"{relay.url}/?projectId={PROJECT}&auth={auth}"
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await session.ws_connect(url)
            assert err.value.status == 401


async def test_bad_requests_get_json_rpc_errors_and_binary_frames_work(relay):
    jwt = sign_jwt(new_seed(), sub="x", aud=relay.url, iat=int(time.time()))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{relay.url}/?projectId={PROJECT}&auth={jwt}")
        calls = [
            {"id": 1, "jsonrpc": "2.0", "method": "irn_subscribe", "params": {"topic": "nope"}},
            {"id": 2, "jsonrpc": "2.0", "method": "irn_fly", "params": {}},
            {"id": 3, "jsonrpc": "2.0", "method": "irn_publish", "params": {"topic": "ab" * 32}},
            {
                "id": 4,
                "jsonrpc": "2.0",
                "method": "irn_publish",
                "params": {"topic": "ab" * 32, "message": "m", "ttl": 5},
            },
        ]
        for call in calls:
            await ws.send_bytes(json.dumps(call).encode())  # pyWalletConnect sends binary
        answers = [json.loads((await ws.receive()).data) for _ in calls]
        assert [a["id"] for a in answers] == [1, 2, 3, 4]
        assert [a["error"]["code"] for a in answers] == [-32602, -32601, -32602, -32602]
        await ws.send_str("not json")
        await ws.send_str(json.dumps({"id": 5, "jsonrpc": "2.0", "method": "irn_batchSubscribe",
                                      "params": {"topics": ["cd" * 32]}}))  # fmt: skip
        answer = json.loads((await ws.receive()).data)
        assert answer["id"] == 5 and len(answer["result"]) == 1
        await ws.close()
    assert relay.published == []


async def test_sign_2_5_calls_publish_both_parts_and_subscribe_the_caller(timed):
    """wc_proposeSession (the dapp) and wc_approveSession (the wallet), as current SDKs call
    them: the relay publishes each part on its topic with the Sign tag and TTL, and subscribes
    the caller to the topic it will hear back on (the SDK skips its own subscribe)."""
    relay, clock = timed
    pairing, session = topic_of(random_key()), topic_of(random_key())
    dapp_got: list = []
    wallet_got: list = []
    dapp = await client(relay, dapp_got)
    wallet = await client(relay, wallet_got)
    await wallet.subscribe([pairing])  # the wallet scanned the URI
    dapp.topics.add(pairing)  # what the SDK records with skipSubscribe
    assert await dapp.call("wc_proposeSession", {"pairingTopic": pairing,
                           "sessionProposal": "proposal", "ttl": 300,
                           "correlationId": 1})  # fmt: skip
    await until(lambda: wallet_got)
    assert [(m.topic, m.message, m.tag) for m in wallet_got] == [(pairing, "proposal", 1100)]
    wallet.topics.add(session)
    params = {
        "pairingTopic": pairing,
        "sessionTopic": session,
        "sessionProposalResponse": "answer",
        "sessionSettlementRequest": "settle",
        "correlationId": 1,
    }
    assert await wallet.call("wc_approveSession", params) is True
    await until(lambda: dapp_got)  # the dapp hears the answer: the relay subscribed it
    assert [(m.topic, m.message, m.tag) for m in dapp_got] == [(pairing, "answer", 1101)]
    await dapp.subscribe([session])  # as the SDK does once it knows the session topic
    await until(lambda: len(dapp_got) == 2)
    assert (dapp_got[1].topic, dapp_got[1].message, dapp_got[1].tag) == (session, "settle", 1102)
    await dapp.publish(session, "settle answer", tag=1103, ttl=300)
    await until(lambda: len(wallet_got) == 2)  # the wallet was subscribed to the session topic
    assert wallet_got[1].message == "settle answer"
    assert all(m.expires_at == clock.t + 300 for m in relay.published)  # the Sign TTLs
    bad = dict(params, sessionTopic="not a topic", sessionProposalResponse="again")
    with pytest.raises(RelayRefused, match="-32602"):
        await wallet.call("wc_approveSession", bad)
    assert [m.message for m in relay.published] == ["proposal", "answer", "settle", "settle answer"]
    for c in (dapp, wallet):
        await c.stop()


async def test_json_nested_too_deep_is_dropped_and_the_connection_serves_on(relay):
    """A hostile peer's deeply nested frame: dropped, never an exception that ends the
    connection (and never a C stack overflow where py-evm raised the recursion limit)."""
    import sys

    jwt = sign_jwt(new_seed(), sub="x", aud=relay.url, iat=int(time.time()))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, as in a service without py-evm
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{relay.url}/?projectId={PROJECT}&auth={jwt}")
            await ws.send_str("[" * 50_000 + "]" * 50_000)
            await ws.send_str(json.dumps({"id": 6, "jsonrpc": "2.0", "method": "irn_subscribe",
                                          "params": {"topic": "cd" * 32}}))  # fmt: skip
            answer = json.loads((await ws.receive(timeout=10)).data)
            await ws.close()
    finally:
        sys.setrecursionlimit(limit)
    assert answer["id"] == 6 and "result" in answer
