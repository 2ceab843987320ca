"""Relay client authentication: an Ed25519 ``did:key`` identity and an EdDSA JWT.

As ``@walletconnect/relay-auth`` does it (and its test vectors check): the header
``{"alg":"EdDSA","typ":"JWT"}``, the payload ``{"iss","sub","aud","iat","exp"}`` in that order,
base64url without padding, Ed25519 over ``header.payload``. ``iss`` is ``did:key:z`` followed by
base58btc of the multicodec prefix ``ed01`` and the 32-byte public key. The client's seed is its
sticky identity at the relay (its mailbox), so the wallet adapter persists it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

JWT_TTL = 86_400  # one day, like the JS core
_HEADER = {"alg": "EdDSA", "typ": "JWT"}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MULTICODEC_ED25519 = b"\xed\x01"
_DID_PREFIX = "did:key:z"


class RelayAuthError(ValueError):
    """A did:key or JWT that is malformed, badly signed or expired."""


def b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Raises RelayAuthError for characters outside the bitcoin alphabet."""
    n = 0
    for ch in text:
        i = _B58.find(ch)
        if i < 0:
            raise RelayAuthError("not base58")
        n = n * 58 + i
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise RelayAuthError("not base64url") from exc


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def new_seed() -> bytes:
    return os.urandom(32)


def seed_public_key(seed: bytes) -> bytes:
    if len(seed) != 32:
        raise RelayAuthError("the client seed must be 32 bytes")
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def did_key(public_key: bytes) -> str:
    """``did:key:z…`` of a 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise RelayAuthError("an Ed25519 public key is 32 bytes")
    return _DID_PREFIX + b58encode(_MULTICODEC_ED25519 + public_key)


def public_key_of(did: str) -> bytes:
    """The Ed25519 public key in a ``did:key``. Raises RelayAuthError."""
    if not isinstance(did, str) or not did.startswith(_DID_PREFIX):
        raise RelayAuthError("not an Ed25519 did:key")
    raw = b58decode(did[len(_DID_PREFIX) :])
    if len(raw) != 34 or raw[:2] != _MULTICODEC_ED25519:
        raise RelayAuthError("not an Ed25519 did:key")
    return raw[2:]


def client_id(seed: bytes) -> str:
    return did_key(seed_public_key(seed))


def sign_jwt(seed: bytes, *, sub: str, aud: str, iat: int, ttl: int = JWT_TTL) -> str:
    """The relay auth JWT for the client identified by ``seed``."""
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    payload = {"iss": client_id(seed), "sub": sub, "aud": aud, "iat": iat, "exp": iat + ttl}
    signing_input = _b64url(_compact(_HEADER)) + "." + _b64url(_compact(payload))
    return signing_input + "." + _b64url(sk.sign(signing_input.encode("ascii")))


def verify_jwt(token: str, *, now: int | None = None) -> dict[str, Any]:
    """The JWT's claims if its EdDSA signature matches its ``iss``; ``exp`` is checked when
    ``now`` is given. Raises RelayAuthError (the audience is left to the caller)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise RelayAuthError("not a JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RelayAuthError("not a JWT") from exc
    if header != _HEADER or not isinstance(claims, dict):
        raise RelayAuthError("not an EdDSA JWT")
    public = Ed25519PublicKey.from_public_bytes(public_key_of(claims.get("iss")))
    try:
        public.verify(_b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature as exc:
        raise RelayAuthError("bad JWT signature") from exc
    exp = claims.get("exp")
    if now is not None and (not isinstance(exp, int) or exp <= now):
        raise RelayAuthError("expired JWT")
    return claims
