"""Wallet replies in chat: universal-link buttons, the QR code, /connect, /register, and
the outbox texts wallets cause, through the one dispatcher and the terminal front end."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import asdict
from urllib.parse import parse_qs, urlsplit

import pytest
import qrcode
from qrcode.constants import ERROR_CORRECT_M

from bot.common import render
from bot.common.dispatch import Dispatcher
from bot.common.i18n import catalogue
from bot.common.wallet_links import (
    QR_FILE,
    QR_SCALE,
    png_1bit,
    qr_matrix,
    qr_png,
    universal_links,
)
from bot.terminal.chat import TerminalChat
from core.services.notifications import DueMessage
from core.services.views import InstanceView, MachineSpecsView, OfferView, QuoteView
from tests.support import add_provider, renter

WALLET_PREFIXES = {
    "MetaMask": "https://metamask.app.link/wc?uri=",
    "Trust Wallet": "https://link.trustwallet.com/wc?uri=",
    "Rainbow": "https://rnbwapp.com/wc?uri=",
    "WalletConnect": "https://walletconnect.com/wc?uri=",
}


def decode_png_1bit(png: bytes) -> list[list[bool]]:
    """Dark pixels of a 1-bit grayscale PNG (filter 0 rows), read back independently."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (1, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width + 7) // 8 + 1
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0
        rows.append([not (line[1 + x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return rows


def test_universal_links_carry_the_pairing_uri_encoded():
    uri = "wc:" + "ab" * 32 + "@2?expiryTimestamp=1795264584&relay-protocol=irn&symKey=" + "cd" * 32
    links = dict(universal_links(uri))
    assert set(links) == set(WALLET_PREFIXES)
    for name, link in links.items():
        assert link.startswith(WALLET_PREFIXES[name])
        assert "&" not in link.split("?", 1)[1] and "@" not in link  # one parameter, encoded
        assert parse_qs(urlsplit(link).query)["uri"] == [uri]


def test_qr_png_holds_exactly_the_qr_code_of_the_uri():
    uri = "wc:" + "12" * 32 + "@2?expiryTimestamp=1&relay-protocol=irn&symKey=" + "34" * 32
    matrix = qr_matrix(uri)
    assert len(matrix) >= 25 and all(len(row) == len(matrix) for row in matrix)
    pixels = decode_png_1bit(png_1bit(matrix, QR_SCALE))
    assert len(pixels) == len(matrix) * QR_SCALE
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert pixels[y * QR_SCALE][x * QR_SCALE] == dark
            assert pixels[y * QR_SCALE + QR_SCALE - 1][x * QR_SCALE + QR_SCALE - 1] == dark
    assert qr_matrix(uri + "x") != matrix  # the code depends on the text


@pytest.mark.parametrize("seed", range(6))
def test_the_fixed_mask_gives_the_code_qrcode_itself_would_choose(seed):
    """Fixing the mask skips qrcode's scoring of all eight, not the result: for pairing URIs
    (the form every wallet request carries) the code is module for module the one qrcode
    draws when it picks the mask itself."""
    key = hashlib.sha256(f"key:{seed}".encode()).digest()
    uri = (
        f"wc:{hashlib.sha256(key).hexdigest()}@2?expiryTimestamp={1795264584 + seed}"
        f"&relay-protocol=irn&symKey={key.hex()}"
    )
    chosen = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    chosen.add_data(uri)
    chosen.make(fit=True)
    assert qr_matrix(uri) == [list(row) for row in chosen.get_matrix()]
    pixels = decode_png_1bit(qr_png(uri))  # the cached PNG draws that same code
    assert [row[::QR_SCALE] for row in pixels[::QR_SCALE]] == qr_matrix(uri)


async def test_connect_replies_with_wallet_buttons_signing_page_and_qr(app):
    d = Dispatcher(app)
    alice = await renter(app, wallet=False)
    reply = await d.handle_text(alice, "/connect")
    assert not reply.error and reply.private and reply.core_call == "wallets.connect"
    wc_uri, url = reply.meta["wc_uri"], reply.meta["url"]
    assert wc_uri.startswith("wc:") and url.startswith("http://127.0.0.1:8080/sign/")
    labels = [b.label for b in reply.buttons]
    assert labels == [*WALLET_PREFIXES, "Sign in browser"]
    assert reply.buttons[0].action == "url:" + dict(universal_links(wc_uri))["MetaMask"]
    assert reply.buttons[-1].action == "url:" + url
    [(name, png)] = reply.files
    assert name == QR_FILE and isinstance(png, bytes)
    assert decode_png_1bit(png)[0::QR_SCALE][4][4 * QR_SCALE] == qr_matrix(wc_uri)[4][4]
    assert "expire at 20" in reply.text and url in reply.text and wc_uri in reply.text

    [request_id] = app.wallet.connects
    await app.wallet.approve_connect(request_id)
    reply = await d.handle_text(alice, "/connect")
    address = app.wallet.address_of(alice.user_id)
    assert reply.core_call == "wallets.account" and address in reply.text
    assert "1,000.00 USDC" in reply.text  # the development faucet's balance
    assert [b.action for b in reply.buttons] == ["text:/connect switch", "text:/connect disconnect"]
    reply = await d.handle_action(alice, reply.buttons[1].action)
    assert reply.text == f"Wallet {address} disconnected. /connect links one again."
    assert (await d.handle_text(alice, "/connect disconnect")).text.startswith("No wallet")
    reply = await d.handle_text(alice, "/connect switch")
    assert reply.core_call == "wallets.connect" and reply.files


async def test_confirm_without_wallet_then_the_outbox_asks_for_the_payment(app):
    d = Dispatcher(app)
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    alice = await renter(app, wallet=False)
    quote = await d.handle_text(alice, "/rent 4090 1h")
    reply = await d.handle_action(alice, quote.buttons[0].action)
    assert (
        reply.core_call == "rentals.confirm" and reply.meta["rental_id"] == quote.meta["rental_id"]
    )
    assert "First link your wallet" in reply.text and reply.files
    [request_id] = app.wallet.connects
    await app.wallet.approve_connect(request_id)
    texts = [render.outbox(m) for m in await app.notifications.due() if m.user_id == alice.user_id]
    assert texts[0].startswith("Wallet linked: 0x")
    assert "Approve ONE request in your wallet to lock 0.65 USDC" in texts[1]
    assert "Your wallet shows: " in texts[1] and "/sign/" in texts[1]


async def test_payment_reply_with_a_live_session_has_no_qr(app):
    d = Dispatcher(app)
    await add_provider(app, "prov", ["rtx4090"], 650_000)
    alice = await renter(app)
    quote = await d.handle_text(alice, "/rent 4090 1h")
    reply = await d.handle_action(alice, quote.buttons[0].action)
    assert reply.core_call == "rentals.confirm" and reply.files == ()
    assert [b.label for b in reply.buttons] == ["Sign in browser"]
    assert "Approve the request in your wallet app now" in reply.text


async def test_register_reply_and_outcome(app):
    d = Dispatcher(app)
    pat = await renter(app, "pat", wallet=False)
    address = app.wallet.address_of(pat.user_id)
    reply = await d.handle_text(pat, f"/register {address}")
    assert reply.core_call == "providers.register" and reply.private
    assert f"Prove that you control the payout wallet {address.lower()}" in reply.text
    await app.wallet.approve(reply.meta["url"].rsplit("/", 1)[1])
    [msg] = await app.notifications.due()
    assert render.outbox(msg).startswith("You are a provider now. Payouts go to")


async def test_terminal_names_the_qr_file_instead_of_printing_bytes(app):
    lines: list[str] = []
    chat = TerminalChat(app, out=lines.append)
    await chat.say("alice", "/connect")
    printed = "\n".join(lines)
    assert QR_FILE in printed and "PNG" not in printed and "\\x89" not in printed
    assert "[MetaMask]" in printed and "[Sign in browser]" in printed


@pytest.mark.parametrize("lang", ["en", "de"])
def test_a_taken_confirm_offers_the_next_best_quote_as_the_service_stored_it(lang):
    """The service stores the next best quote with ``dataclasses.asdict`` (nested machine
    specs included); rendering it once failed on those specs (seen under load)."""
    specs = MachineSpecsView(cpu_cores=16, ram_mib=65_536, backend="simulated")
    offer = OfferView(
        3, "rtx4090", "RTX 4090", 1, 24, 900_000, 900_000, "eu", 9500, True, specs=specs
    )
    instance = InstanceView("pytorch/pytorch:2", "pytorch", True, (8888,), 4000, 16_384, 50)
    quote = QuoteView(9, offer, 3600, 900_000, 1200, 1_790_000_300, instance=instance)
    stored = json.loads(json.dumps({"rental_id": 7, "next_best": asdict(quote)}))
    msg = DueMessage(1, 1, "terminal", "c", lang, "confirm_taken", stored, True, 0)
    text = render.outbox(msg)
    assert "RTX 4090" in text and "pytorch/pytorch:2" in text and "{" not in text


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_wallet_outbox_kind_renders(lang):
    address, other = "0x" + "ab" * 20, "0x" + "cd" * 20
    quote = {
        "rental_id": 9,
        "offer": {
            "listing_id": 3,
            "gpu_model": "rtx4090",
            "gpu_name": "RTX 4090",
            "gpu_count": 1,
            "vram_gb": 24,
            "price_per_hour": 900_000,
            "total_per_hour": 900_000,
            "region": "eu",
            "reliability_bps": 9500,
            "verified": True,
            "machine_name": "box",
        },
        "duration_s": 3600,
        "deposit": 900_000,
        "fee_bps": 1200,
        "expires_at": 1_790_000_300,
        "alternative_note": None,
    }
    cases = [
        ("wallet_connected", {"address": address}, address),
        ("wallet_disconnected", {"reason": "session expired"}, "session expired"),
        (
            "payment_requested",
            {
                "rental_id": 7,
                "deposit": 650_000,
                "summary": "Authorize 0.65",
                "url": "http://x/sign/t",
                "wc_uri": None,
                "expires_at": 1_790_000_000,
            },
            "Authorize 0.65",
        ),
        ("confirm_taken", {"rental_id": 7, "next_best": quote}, "RTX 4090"),
        ("confirm_taken", {"rental_id": 7, "next_best": None}, "rigshare"[:0]),
        ("confirm_failed", {"rental_id": 7, "reason": "quote expired"}, "quote expired"),
        ("request_expired", {"rental_id": 7, "kind": "open"}, "#7"),
        ("request_expired", {"rental_id": 7, "kind": "stop"}, "#7"),
        ("request_expired", {"rental_id": None, "kind": "connect"}, "/connect"),
        ("request_expired", {"rental_id": None, "kind": "register"}, "/register"),
        ("signature_failed", {"rental_id": None, "kind": "connect", "reason": "no"}, "/connect"),
        ("signature_failed", {"rental_id": None, "kind": "register", "reason": "no"}, "/register"),
        ("signature_failed", {"rental_id": 7, "kind": "extend", "reason": "no"}, "#7"),
        ("signature_failed", {"rental_id": 7, "kind": "open", "reason": "no"}, "#7"),
        ("provider_registered", {"address": address}, address),
        ("payout_updated", {"address": address}, address),
        (
            "register_refused",
            {"address": address, "signer": other, "reason": "other_wallet"},
            other,
        ),
        ("register_refused", {"address": address, "signer": None, "reason": "invalid"}, address),
        (
            "register_refused",
            {"address": address, "signer": None, "reason": "expired"},
            "/register",
        ),
    ]
    for kind, payload, expected in cases:
        msg = DueMessage(1, 1, "terminal", "c", lang, kind, payload, True, 0)
        text = render.outbox(msg)
        assert expected in text and "{" not in text, (kind, text)
    assert set(catalogue("de")) >= {
        k for k in catalogue("en") if k.split(".")[0] in ("pay", "connect", "register")
    }
