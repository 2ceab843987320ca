"""A WalletConnect pairing as chat buttons and a QR code.

Chat buttons take only http(s) links (Telegram: "HTTP or tg:// URL"; Discord link buttons:
http(s)), so the ``wc:`` pairing URI is wrapped, URL-encoded, in each wallet's universal link
(MetaMask, Trust Wallet, Rainbow: the forms in research/walletconnect.md §6 and §10.2; the
generic ``walletconnect.com/wc`` form as used by public WalletConnect integrations). A QR
code of the raw ``wc:`` URI serves a wallet on a second device. The PNG is written here
(zlib + CRC, 1-bit grayscale): no imaging library is needed.
"""

from __future__ import annotations

import functools
import struct
import zlib
from urllib.parse import quote

import qrcode
from qrcode.constants import ERROR_CORRECT_M

QR_FILE = "wallet-qr.png"
QR_SCALE = 6  # pixels per module: ~400 px for a pairing URI, sharp on a phone screen
# The mask is fixed instead of chosen: trying all eight and scoring each costs ~20 ms of CPU per
# code (the loop stalls that long), one costs ~3 ms. Pattern 2 is the one the scoring picks
# for WalletConnect pairing URIs anyway (tests/bot/test_wallet_replies.py holds that).
QR_MASK = 2
WALLETS = (
    ("MetaMask", "https://metamask.app.link/wc?uri="),
    ("Trust Wallet", "https://link.trustwallet.com/wc?uri="),
    ("Rainbow", "https://rnbwapp.com/wc?uri="),
    ("WalletConnect", "https://walletconnect.com/wc?uri="),
)


def universal_links(wc_uri: str) -> tuple[tuple[str, str], ...]:
    """(wallet name, https link that opens the pairing in that wallet) for each wallet."""
    encoded = quote(wc_uri, safe="")
    return tuple((name, prefix + encoded) for name, prefix in WALLETS)


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of ``text`` as rows of modules (True = dark), quiet zone included."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, mask_pattern=QR_MASK)
    code.add_data(text)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


@functools.lru_cache(maxsize=256)  # a pairing shown again (a resent payment request) is free
def qr_png(text: str, scale: int = QR_SCALE) -> bytes:
    """A PNG (1-bit grayscale, black on white) of the QR code of ``text``."""
    return png_1bit(qr_matrix(text), scale)


def png_1bit(matrix: list[list[bool]], scale: int) -> bytes:
    """Encode dark/light modules as a 1-bit grayscale PNG, each module ``scale`` pixels."""
    width = len(matrix[0]) * scale
    pad = -width % 8  # each scanline fills whole bytes
    raw = bytearray()
    for row in matrix:
        # one bit per pixel as text ("0" is black in grayscale), read as a big-endian number
        bits = "".join(("0" if dark else "1") * scale for dark in row) + "0" * pad
        line = b"\x00" + int(bits, 2).to_bytes((width + pad) // 8, "big")  # filter 0 (None)
        raw += line * scale
    header = struct.pack(">IIBBBBB", width, len(matrix) * scale, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
