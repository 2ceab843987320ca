"""The signing page through the production web application (aiohttp test client), on the
fakes: unknown, used and expired links, the security headers, the payload, and signatures
that are refused (tampered, foreign) and change nothing."""

from __future__ import annotations

import json
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.web.app import build_web_app
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from core.services.wallets import CONNECT_TIMEOUT_S
from rigshare_dev.fakes.escrow import fake_signature
from rigshare_dev.fakes.signatures import personal_payload
from tests.support import add_provider, renter

PRICE = 650_000
ALLOWED_ABSOLUTE_URLS = ("https://metamask.app.link/dapp/",)  # a link to follow, not a load


@pytest.fixture
async def client(app):
    async with TestClient(TestServer(build_web_app(app))) as c:
        yield c


async def _open_request(app):
    """A confirmed quote waiting for the deposit signature: (token, rental id, request)."""
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    [(token, (_, request))] = app.wallet.pending.items()
    return token, quote.rental_id, request, app.wallet.address_of(alice.user_id)


async def _state(app, rental_id):
    async with app.uow(readonly=True) as uow:
        return (await uow.rentals.get(rental_id)).state


async def _status(app, token):
    async with app.uow(readonly=True) as uow:
        return (await uow.signatures.get_by_token(token)).status


def _assert_locked_down(resp) -> str:
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]{16,})'", csp)
    assert nonce is not None
    return nonce.group(1)


async def test_unknown_and_malformed_links_are_404(client):
    for token in ("A" * 32, "short", "bad%20chars" + "x" * 20):
        resp = await client.get(f"/sign/{token}")
        assert resp.status == 404
        _assert_locked_down(resp)
        assert "This signing link does not exist" in await resp.text()
        assert (await client.get(f"/sign/{token}/request.json")).status == 404
        resp = await client.post(f"/sign/{token}", json={"signature": "0x" + "00" * 65})
        assert resp.status == 404


async def test_page_is_self_contained_and_shows_the_request(app, client):
    token, _, request, renter_address = await _open_request(app)
    resp = await client.get(f"/sign/{token}")
    assert resp.status == 200 and resp.content_type == "text/html"
    nonce = _assert_locked_down(resp)
    html = await resp.text()
    assert request.summary in html
    # every script and style carries the nonce; nothing is loaded from anywhere
    assert html.count("<script") == 3 and html.count(f'nonce="{nonce}"') == 4  # + the style
    assert re.findall(r"<(?:link|iframe|img|object|embed)\b[^>]*>", html) == [
        '<link rel="icon" href="data:,">'  # no favicon request at all
    ]
    assert "@import" not in html and "url(" not in html
    urls = re.findall(r"(?:https?:)?//[^\s\"'<>)]+", html)
    assert all(u.startswith(ALLOWED_ABSOLUTE_URLS) for u in urls), urls

    data = await (await client.get(f"/sign/{token}/request.json")).json()
    assert data["method"] == "eth_signTypedData_v4" and data["kind"] == "open"
    assert data["signer"] == renter_address  # only the renter's signature opens the rental
    typed = json.loads(data["typed_data_json"])
    assert typed["message"] == {k: str(v) for k, v in request.payload["message"].items()}
    assert data["chain_id"] == request.payload.get("domain", {}).get("chainId")


async def test_refused_signatures_change_nothing_then_one_good_signature_counts(app, client):
    token, rental_id, request, renter_address = await _open_request(app)
    good = fake_signature(renter_address, request.payload)

    tampered = good[:-6] + "00001b" if not good.endswith("00001b") else good[:10] + "ff" + good[12:]
    cases = [
        ({"signature": tampered, "address": renter_address}, "not a valid signature"),
        (
            {"signature": fake_signature("0x" + "ab" * 20, request.payload)},
            "Signed by a different wallet",
        ),
        ({"signature": good, "address": "0x" + "cd" * 20}, "not from the account"),
        ({"signature": 12}, "signature"),
        ({"address": renter_address}, "signature"),
    ]
    for body, expected in cases:
        resp = await client.post(f"/sign/{token}", json=body)
        assert resp.status == 400, body
        assert expected in (await resp.json())["message"]
    resp = await client.post(f"/sign/{token}", data=b"{not json")
    assert resp.status == 400
    resp = await client.post(f"/sign/{token}", data=b"x" * 5000)
    assert resp.status == 413
    assert await _status(app, token) == "pending"
    assert await _state(app, rental_id) == RentalState.AWAITING_PAYMENT
    assert app.escrow.locked == 0

    resp = await client.post(f"/sign/{token}", json={"signature": good, "address": renter_address})
    assert resp.status == 200 and (await resp.json())["ok"] is True
    await app.settle()
    assert await _state(app, rental_id) == RentalState.ACTIVE
    assert app.escrow.locked > 0
    again = await client.post(f"/sign/{token}", json={"signature": good})
    assert again.status == 410
    assert "already answered" in (await again.json())["message"]
    page = await client.get(f"/sign/{token}")
    assert page.status == 410 and "already answered" in await page.text()


async def test_expired_link_is_410_and_changes_nothing(app, client, clock):
    token, rental_id, request, renter_address = await _open_request(app)
    clock.advance(app.rentals.rules.payment_hold_s + 1)
    resp = await client.get(f"/sign/{token}")
    assert resp.status == 410 and "expired" in await resp.text()
    assert (await client.get(f"/sign/{token}/request.json")).status == 410
    good = fake_signature(renter_address, request.payload)
    resp = await client.post(f"/sign/{token}", json={"signature": good})
    assert resp.status == 410
    assert app.escrow.locked == 0
    assert await _status(app, token) == "pending"  # the keeper marks it and tells the user


async def test_connect_on_the_page_links_the_signing_wallet(app, client):
    bob = await renter(app, "bob", wallet=False)
    link = await app.wallets.connect(bob)
    data = await (await client.get(f"/sign/{link.request_id}/request.json")).json()
    assert data["method"] == "personal_sign" and data["signer"] is None
    assert bytes.fromhex(data["message_hex"][2:]).decode() == data["message"]
    chosen = "0x" + "5a" * 20  # any wallet may be linked: the one that signs
    signature = fake_signature(chosen, personal_payload(data["message"]))
    resp = await client.post(f"/sign/{link.request_id}", json={"signature": signature})
    assert resp.status == 200
    assert (await app.wallets.account(bob)).address == chosen
    resp = await client.post(f"/sign/{link.request_id}", json={"signature": signature})
    assert resp.status == 410


async def test_names_in_the_challenge_cannot_break_out_of_the_page(app, client):
    who = await app.users.identify("terminal", "mallory", "</script><script>alert(1)</script>")
    view = await app.providers.register(who, app.wallet.address_of(who.user_id))
    html = await (await client.get(f"/sign/{view.request_id}")).text()
    assert "<script>alert(1)" not in html
    assert html.count("</script>") == 3  # the two data blocks and the page's own script


async def test_posts_are_rate_limited(app, client):
    bob = await renter(app, "bob", wallet=False)
    link = await app.wallets.connect(bob)
    statuses = [
        (await client.post(f"/sign/{link.request_id}", json={"signature": "0x00"})).status
        for _ in range(12)
    ]
    assert statuses[:10] == [400] * 10 and statuses[10:] == [429, 429]
    resp = await client.post(f"/sign/{link.request_id}", json={"signature": "0x00"})
    assert int(resp.headers["Retry-After"]) >= 1
    assert CONNECT_TIMEOUT_S > 0 and (await app.wallets.account(bob)).address is None


async def test_behind_the_proxy_one_clients_junk_locks_out_only_that_client(app, client):
    """docs/production.md's nginx: every peer is the proxy, X-Forwarded-For names the client."""
    mallory = await renter(app, "mallory", wallet=False)
    bob = await renter(app, "bob", wallet=False)
    junk, good = await app.wallets.connect(mallory), await app.wallets.connect(bob)

    async def post(link, client_ip, forged=""):
        headers = {"X-Forwarded-For": f"{forged}{client_ip}"}
        resp = await client.post(
            f"/sign/{link.request_id}", json={"signature": "0x00"}, headers=headers
        )
        return resp.status

    # mallory spreads her junk over links she made; forging an address left of hers is futile
    spread = [await app.wallets.connect(mallory) for _ in range(3)]
    statuses = [await post(spread[i % 3], "198.51.100.7", "10.9.8.7, ") for i in range(11)]
    assert statuses[-1] == 429
    assert await post(junk, "198.51.100.7") == 429  # her address is limited on every link
    assert await post(good, "203.0.113.5") == 400  # bob is refused for his bad signature only
