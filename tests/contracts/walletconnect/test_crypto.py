"""Crypto, relay JWT and pairing URI against WalletConnect's published test vectors.

Vectors: ``WalletConnect/walletconnect-monorepo`` ``packages/utils/test/{crypto.spec.ts,
shared/values.ts}`` and ``WalletConnect/walletconnect-utils`` ``relay/relay-auth/test/shared/values.ts``.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from contracts.walletconnect import crypto as c
from contracts.walletconnect import relay_auth as ra
from contracts.walletconnect.uri import PairingUri, UriError, parse_uri

A_PRIV = "1fb63fca5c6ac731246f2f069d3bc2454345d5208254aa8ea7bffc6d110c8862"
A_PUB = "ff7a7d5767c362b0a17ad92299ebdb7831dcbd9a56959c01368c7404543b3342"
B_PRIV = "36bf507903537de91f5e573666eaa69b1fa313974f23b2b59645f20fea505854"
B_PUB = "590c2c627be7af08597091ff80dd41f7fa28acd10ef7191d7e830e116d3a186a"
SHARED = "9c87e48e69b33a613907515bcd5b1b4cc10bbaf15167b19804b00f0a9217e607"
HASHED = "a492906ccc809a411bb53a84572b57329375378c6ad7566f3e1c688200123e77"
SYM_KEY = "0653ca620c7b4990392e1c53c4a51c14a2840cd20f0f1524cf435b17b6fe988c"
IV = "717765636661617364616473"
MESSAGE = '{"id":1,"jsonrpc":"2.0","method":"test_method","params":{}}'
SEALED = (
    "7a5a1e843debf98b01d6a75718b5ee27115eafa3caba9703ca1c5601a6af2419045320faec2073cc8b6b8dc4"
    "39e63e21612ff3883c867e0bdcd72c833eb7f7bb2034a9ec35c2fb03d93732"
)
TYPE_0 = (
    "AHF3ZWNmYWFzZGFkc3paHoQ96/mLAdanVxi17icRXq+jyrqXA8ocVgGmryQZBFMg+uwgc8yLa43EOeY+IWEv84g8"
    "hn4L3Ncsgz6397sgNKnsNcL7A9k3Mg=="
)
TYPE_1 = (
    "Af96fVdnw2KwoXrZIpnr23gx3L2aVpWcATaMdARUOzNCcXdlY2ZhYXNkYWRzeloehD3r+YsB1qdXGLXuJxFer6PK"
    "upcDyhxWAaavJBkEUyD67CBzzItrjcQ55j4hYS/ziDyGfgvc1yyDPrf3uyA0qew1wvsD2Tcy"
)

JWT_SEED = "58e0254c211b858ef7896b00e3f36beeb13d568d47c6031c4218b87718061295"
JWT_PUBLIC = "884ab67f787b69e534bfdba8d5beb4e719700e90ac06317ed177d49e5a33be5a"
JWT_SUB = "c479fe5dc464e771e78b193d239a65b58d278cad1c34bfb0b5716e5bb514928e"
JWT_ISS = "did:key:z6MkodHZwneVRShtaLf8JKYkxpDGp1vGZnpGmdBpX8M2exxH"
JWT_EXPECTED = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJkaWQ6a2V5Ono2TWtvZEhad25lVlJTaHRhTGY4SktZa3hw"
    "REdwMXZHWm5wR21kQnBYOE0yZXh4SCIsInN1YiI6ImM0NzlmZTVkYzQ2NGU3NzFlNzhiMTkzZDIzOWE2NWI1OGQyNzhj"
    "YWQxYzM0YmZiMGI1NzE2ZTViYjUxNDkyOGUiLCJhdWQiOiJ3c3M6Ly9yZWxheS53YWxsZXRjb25uZWN0LmNvbSIsImlh"
    "dCI6MTY1NjkxMDA5NywiZXhwIjoxNjU2OTk2NDk3fQ.bAKl1swvwqqV_FgwvD4Bx3Yp987B9gTpZctyBviA-EkAuWc8iI8"
    "SyokOjkv9GJESgid4U8Tf2foCgrQp2qrxBA"
)
h = bytes.fromhex


def test_key_agreement_matches_the_vectors() -> None:
    assert c.KeyPair.from_private(h(A_PRIV)).public.hex() == A_PUB
    assert c.KeyPair.from_private(h(B_PRIV)).public.hex() == B_PUB
    assert c.shared_secret(h(A_PRIV), h(B_PUB)).hex() == SHARED
    assert c.derive_sym_key(h(A_PRIV), h(B_PUB)).hex() == SYM_KEY
    assert c.derive_sym_key(h(B_PRIV), h(A_PUB)).hex() == SYM_KEY
    assert c.topic_of(h(SHARED)) == HASHED  # hashKey: sha256 of the raw bytes


def test_type0_envelope_matches_the_vector() -> None:
    sealed = c.seal(h(SYM_KEY), MESSAGE.encode(), iv=h(IV))
    assert sealed == TYPE_0
    env = c.parse_envelope(TYPE_0)
    assert (env.type, env.iv.hex(), env.sealed.hex(), env.sender_public) == (0, IV, SEALED, None)
    assert c.unseal(h(SYM_KEY), TYPE_0).decode() == MESSAGE


def test_type1_envelope_matches_the_vector() -> None:
    sealed = c.seal(h(SYM_KEY), MESSAGE.encode(), iv=h(IV), sender_public=h(A_PUB))
    assert sealed == TYPE_1
    env = c.parse_envelope(TYPE_1)
    assert env.type == 1 and env.sender_public.hex() == A_PUB and env.sealed.hex() == SEALED
    # the receiver derives the key from its private key and the sender's public key
    key = c.derive_sym_key(h(B_PRIV), env.sender_public)
    assert c.decrypt(key, env).decode() == MESSAGE


def test_unpadded_base64_is_accepted() -> None:
    assert c.unseal(h(SYM_KEY), TYPE_0.rstrip("=")).decode() == MESSAGE


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "@@@@",
        TYPE_0.replace("+", "-"),  # base64url is link-mode only
        TYPE_0 + "A",  # impossible length
        base64.b64encode(b"\x02" + MESSAGE.encode()).decode(),  # type 2: unencrypted
        base64.b64encode(b"\x00" + b"x" * 20).decode(),  # shorter than iv + tag
        base64.b64encode(b"\x01" + b"x" * 50).decode(),  # type 1 without room for iv + tag
    ],
)
def test_malformed_envelopes_raise_envelope_error(bad: str) -> None:
    with pytest.raises(c.EnvelopeError):
        c.unseal(h(SYM_KEY), bad)


def test_tampered_or_foreign_envelopes_do_not_authenticate() -> None:
    raw = bytearray(base64.b64decode(TYPE_0))
    raw[-1] ^= 1  # flip a tag bit
    with pytest.raises(c.EnvelopeError, match="authenticate"):
        c.unseal(h(SYM_KEY), base64.b64encode(bytes(raw)).decode())
    raw = bytearray(base64.b64decode(TYPE_0))
    raw[20] ^= 1  # flip a ciphertext bit
    with pytest.raises(c.EnvelopeError):
        c.unseal(h(SYM_KEY), base64.b64encode(bytes(raw)).decode())
    with pytest.raises(c.EnvelopeError):
        c.unseal(c.random_key(), TYPE_0)


def test_bad_keys_raise_crypto_error() -> None:
    with pytest.raises(c.CryptoError):
        c.topic_of(b"short")
    with pytest.raises(c.CryptoError):
        c.key_from_hex("zz" * 32)
    with pytest.raises(c.CryptoError):
        c.shared_secret(h(A_PRIV), bytes(32))  # low-order point: all-zero secret
    with pytest.raises(c.CryptoError):
        c.seal(h(SYM_KEY), b"x", iv=b"short")
    assert "A_PRIV" not in repr(c.KeyPair.from_private(h(A_PRIV)))
    assert A_PRIV not in repr(c.KeyPair.from_private(h(A_PRIV)))


def test_round_trip_json() -> None:
    key = c.random_key()
    payload = {"id": 1795264284346967, "jsonrpc": "2.0", "result": {"ü": True}}
    assert json.loads(c.unseal(key, c.seal_json(key, payload))) == payload


def test_relay_jwt_matches_the_vector() -> None:
    seed = h(JWT_SEED)
    assert ra.seed_public_key(seed).hex() == JWT_PUBLIC
    assert ra.client_id(seed) == JWT_ISS
    assert ra.public_key_of(JWT_ISS).hex() == JWT_PUBLIC
    jwt = ra.sign_jwt(seed, sub=JWT_SUB, aud="wss://relay.walletconnect.com", iat=1656910097)
    assert jwt == JWT_EXPECTED
    claims = ra.verify_jwt(jwt, now=1656910098)
    assert claims == {
        "iss": JWT_ISS,
        "sub": JWT_SUB,
        "aud": "wss://relay.walletconnect.com",
        "iat": 1656910097,
        "exp": 1656910097 + 86400,
    }


def test_bad_jwts_are_refused() -> None:
    seed = h(JWT_SEED)
    with pytest.raises(ra.RelayAuthError, match="expired"):
        ra.verify_jwt(JWT_EXPECTED, now=1656910097 + 86400)
    head, body, sig = JWT_EXPECTED.split(".")
    other = ra.sign_jwt(ra.new_seed(), sub=JWT_SUB, aud="x", iat=1)
    with pytest.raises(ra.RelayAuthError, match="signature"):
        ra.verify_jwt(f"{head}.{other.split('.')[1]}.{sig}")
    for bad in ("", "a.b", "a.b.c", f"{head}.{body}", "x" * 10):
        with pytest.raises(ra.RelayAuthError):
            ra.verify_jwt(bad)
    with pytest.raises(ra.RelayAuthError):
        ra.public_key_of("did:key:z0OIl")  # not base58
    with pytest.raises(ra.RelayAuthError):
        ra.public_key_of("did:key:z" + ra.b58encode(b"\xec\x01" + bytes(32)))
    assert ra.b58decode(ra.b58encode(b"\0\0abc")) == b"\0\0abc"
    assert ra.client_id(seed) != ra.client_id(ra.new_seed())


def test_pairing_uri_round_trip_and_format() -> None:
    key = h(SYM_KEY)
    uri = PairingUri.for_key(key, 1795264584)
    text = str(uri)
    topic = hashlib.sha256(key).hexdigest()
    assert text == (f"wc:{topic}@2?relay-protocol=irn&symKey={SYM_KEY}&expiryTimestamp=1795264584")
    assert parse_uri(text) == uri
    # the JS SDK's sorted order parses the same
    js = f"wc:{topic}@2?expiryTimestamp=1795264584&relay-protocol=irn&symKey={SYM_KEY}"
    assert parse_uri(js) == uri
    assert SYM_KEY not in repr(uri)


@pytest.mark.parametrize(
    "bad",
    [
        "http://example.com",
        f"wc:{'a' * 64}@1?bridge=x&key=y",
        f"wc:{'a' * 64}@2?relay-protocol=irn&symKey={SYM_KEY}",  # topic is not sha256(key)
        f"wc:{hashlib.sha256(h(SYM_KEY)).hexdigest()}@2?relay-protocol=waku&symKey={SYM_KEY}",
        f"wc:{hashlib.sha256(h(SYM_KEY)).hexdigest()}@2?relay-protocol=irn&symKey=abc",
        f"wc:{hashlib.sha256(h(SYM_KEY)).hexdigest()}@2?relay-protocol=irn&symKey={SYM_KEY}"
        "&expiryTimestamp=-5",
        f"wc:{hashlib.sha256(h(SYM_KEY)).hexdigest()}@2?relay-protocol=irn&relay-protocol=irn"
        f"&symKey={SYM_KEY}",
        f"wc:{hashlib.sha256(h(SYM_KEY)).hexdigest().upper()}@2?relay-protocol=irn&symKey={SYM_KEY}",
        "wc:",
    ],
)
def test_bad_pairing_uris_raise(bad: str) -> None:
    with pytest.raises(UriError):
        parse_uri(bad)
