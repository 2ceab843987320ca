"""Our dapp client against pyWalletConnect 1.6.2, a third-party wallet implementation, over the
local relay (plain and TLS). pyWalletConnect blocks and polls, so it runs in a thread; the
event loop (relay, dapp) is never blocked.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from contracts import typed_data as td
from contracts.walletconnect.crypto import topic_of
from contracts.walletconnect.relay_auth import client_id
from core.ports import SignatureRequest
from tests.contracts.walletconnect.support import (
    PyWallet,
    drain,
    make_wallet,
    patch_pywalletconnect,
    until,
)

ESCROW = "0x" + "ab" * 20
TOKEN = "0x" + "cd" * 20


def open_request(renter: str, now: int) -> SignatureRequest:
    """The renter's real EIP-3009 authorization that opens a rental (contracts.typed_data)."""
    terms = td.RentalTerms(
        provider="0x" + "12" * 20,
        price_per_hour=1_500_000,
        deposit=4_500_000,
        listing_id=td.listing_id_bytes(7),
        quote_expiry=now + 600,
        salt=b"\x05" * 32,
    )
    domain = td.Eip712Domain("USD Coin", "2", 137, TOKEN)
    typed = td.open_authorization(terms, renter, domain, ESCROW)
    return SignatureRequest("open", "eth_signTypedData_v4", typed, "Pay 4.50 USDC")


def personal(message: str) -> SignatureRequest:
    return SignatureRequest("connect", "personal_sign", {"message": message}, "Prove it")


@pytest.fixture(params=["plain", "tls"])
async def setup(request, monkeypatch, db, wc_clock, tls):
    from rigshare_dev.walletconnect.local_relay import LocalRelay

    server_ctx, client_ctx, cafile = tls
    secure = request.param == "tls"
    relay = await LocalRelay(project_id="test-project", ssl=server_ctx if secure else None).start()
    patch_pywalletconnect(monkeypatch, relay.port, cafile if secure else None)
    wallet, events = make_wallet(db, relay.url, wc_clock, ssl_ctx=client_ctx if secure else None)
    await wallet.start()
    yield relay, wallet, events
    await wallet.stop()
    await relay.stop()


@contextlib.asynccontextmanager
async def _paired(wallet, account, user_id=7, **kw):
    """A connect link for ``user_id`` and pyWalletConnect answering it; stops the peer after."""
    link = await wallet.connect(user_id, f"connect-{user_id}", wallet.clock.now() + 300)
    peer = PyWallet(link.wc_uri, account, **kw).start()
    try:
        yield link, peer
    finally:
        await peer.stop()


async def test_pairing_settles_and_signs_typed_data_and_personal_sign(setup, wc_clock):
    relay, wallet, events = setup
    account = Account.create()
    async with _paired(wallet, account) as (link, peer):
        assert link.url == "http://127.0.0.1:8080/sign/connect-7" and link.wc_uri.startswith("wc:")
        assert await events.wait("connected") == ("connected", 7, "connect-7", account.address)
        session = wallet.client.links[7].session
        # pyWalletConnect derived the same session topic from its own key agreement
        assert session.topic == peer.client.wallet_id == topic_of(session.sym_key)
        assert wallet.session_of(7)[:2] == (account.address, "pyWalletConnect")
        assert peer.proposed_chains == ["137"]  # optional only: requiredNamespaces is {}

        request = open_request(account.address, wc_clock.now())
        sent = await wallet.request_signature(7, "pay-1", request, wc_clock.now() + 300)
        assert sent.wc_uri is None and sent.url.endswith("/sign/pay-1")
        _, rid, signature = await events.wait("signed")
        assert rid == "pay-1"
        signable = encode_typed_data(full_message=dict(request.payload))
        assert Account.recover_message(signable, signature=signature) == account.address
        wc_request = next(p for _, m, p in peer.received if m == "wc_sessionRequest")
        assert wc_request["chainId"] == "eip155:137"
        assert wc_request["request"]["params"][0] == account.address
        assert json.loads(wc_request["request"]["params"][1]) == json.loads(
            td.to_json(dict(request.payload))
        )

        await wallet.request_signature(7, "proof-1", personal("I am user 7"), wc_clock.now() + 300)
        _, rid, signature = await events.wait("signed", 2)
        assert rid == "proof-1"
        recovered = Account.recover_message(encode_defunct(text="I am user 7"), signature=signature)
        assert recovered == account.address

        tags = [m.tag for m in relay.published]
        assert tags[:4] == [1100, 1101, 1102, 1103]  # pyWalletConnect answers first
        assert tags.count(1108) == 2 and tags.count(0) == 2  # it answers requests with tag 0
        assert client_id(await wallet.store.client_seed()) == wallet.relay.client_id
    assert not peer.errors


async def test_wallet_side_delete_ends_the_session_and_the_next_request_pairs_again(
    setup, wc_clock
):
    relay, wallet, events = setup
    async with _paired(wallet, Account.create(), policy=lambda m, p: "hold") as (link, peer):
        await events.wait("connected")
        await wallet.request_signature(7, "pay-2", personal("x"), wc_clock.now() + 300)
        await until(lambda: peer.held)
        peer.close()  # the user disconnects in the wallet: wc_sessionDelete 6000
        assert await events.wait("disconnected") == ("disconnected", 7, "the wallet disconnected")
        assert await events.wait("failed") == ("failed", "pay-2", "the wallet session ended")
        assert wallet.session_of(7) is None
        again = await wallet.request_signature(7, "pay-3", personal("y"), wc_clock.now() + 300)
        assert again.wc_uri is not None and again.wc_uri != link.wc_uri


async def test_rejections_and_dapp_side_delete(setup, wc_clock):
    relay, wallet, events = setup
    async with _paired(wallet, Account.create(), policy=lambda m, p: "reject") as (link, peer):
        await events.wait("connected")
        await wallet.request_signature(7, "pay-4", personal("no"), wc_clock.now() + 300)
        assert await events.wait("failed") == ("failed", "pay-4", "rejected in the wallet")
        await wallet.disconnect(7)
        await until(lambda: any(m == "wc_sessionDelete" for _, m, _ in peer.received))
        delete = next(p for _, m, p in peer.received if m == "wc_sessionDelete")
        assert delete["code"] == 6000
        assert wallet.session_of(7) is None and 7 not in wallet.client.links
        assert not events.of("disconnected")  # we ended it ourselves: nothing to report


async def test_session_rejected_in_the_wallet(setup):
    relay, wallet, events = setup
    async with _paired(wallet, Account.create(), approve=False) as (link, peer):
        assert await events.wait("failed") == ("failed", "connect-7", "rejected in the wallet")
        assert 7 not in wallet.client.links
        async with wallet.store.uow() as uow:
            assert await uow.wallet_sessions.get(7) is None
    assert not events.of("connected")


async def test_an_unanswered_request_times_out_and_a_late_answer_changes_nothing(setup, wc_clock):
    relay, wallet, events = setup
    async with _paired(wallet, Account.create(), policy=lambda m, p: "hold") as (link, peer):
        await events.wait("connected")
        await wallet.request_signature(7, "pay-5", personal("slow"), wc_clock.now() + 60)
        await until(lambda: peer.held)
        wc_clock.advance(61)
        assert await events.wait("failed") == (
            "failed",
            "pay-5",
            "the wallet did not answer in time",
        )
        answers = len([m for m in relay.published if m.tag == 0])
        peer.release()
        await until(lambda: len([m for m in relay.published if m.tag == 0]) > answers)
        await drain(wallet)
        assert not events.of("signed") and wallet.client.links[7].requests == []


async def test_relay_drop_reconnects_resubscribes_and_delivers_what_was_missed(setup, wc_clock):
    relay, wallet, events = setup
    account = Account.create()
    async with _paired(wallet, account, policy=lambda m, p: "hold") as (link, peer):
        await events.wait("connected")
        assert await relay.drop(wallet.relay.client_id) == 1
        await until(lambda: wallet.relay.connects == 2)
        await wallet.request_signature(7, "pay-6", personal("after drop"), wc_clock.now() + 300)
        await until(lambda: peer.held)
        relay.lose_pushes = 1  # the wallet's answer never reaches us on this connection
        peer.release()
        await until(lambda: any(m.tag == 0 for m in relay.published))
        await drain(wallet)
        assert not events.of("signed")
        await relay.drop(wallet.relay.client_id)  # reconnect: fetch + resubscribe
        _, rid, signature = await events.wait("signed")
        assert rid == "pay-6"
        assert Account.recover_message(encode_defunct(text="after drop"), signature=signature) == (
            account.address
        )
        assert wallet.relay.connects == 3


async def test_restart_uses_the_stored_session_and_matches_answers_sent_meanwhile(
    setup, db, wc_clock
):
    relay, wallet, events = setup
    account = Account.create()
    async with _paired(wallet, account, policy=lambda m, p: "hold") as (link, peer):
        await events.wait("connected")
        await wallet.request_signature(7, "pay-7", personal("before restart"), wc_clock.now() + 300)
        await until(lambda: peer.held)
        await wallet.stop()  # the service goes down with a request in flight
        peer.release()  # the wallet answers while nobody listens: the relay keeps it
        await until(lambda: any(m.tag == 0 for m in relay.published))

        again, events2 = make_wallet(db, relay.url, wc_clock, ssl_ctx=wallet.ssl)
        await again.start()
        try:
            assert again.relay.client_id == wallet.relay.client_id  # same mailbox identity
            assert again.session_of(7)[0] == account.address
            assert await events2.wait("signed") == ("signed", "pay-7", events2.of("signed")[0][2])
            sent = await again.request_signature(
                7, "pay-8", personal("after restart"), wc_clock.now() + 300
            )
            assert sent.wc_uri is None  # no new pairing
            await until(lambda: peer.held)
            peer.release()
            assert (await events2.wait("signed", 2))[1] == "pay-8"
        finally:
            await again.stop()
