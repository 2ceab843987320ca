"""WalletConnect v2 crypto: X25519 key agreement, HKDF-SHA256, topics, ChaCha20-Poly1305 envelopes.

Matches ``@walletconnect/utils`` (``crypto.ts``) byte for byte; the tests hold it to the official
vectors. An envelope is ``type(1) || [sender public key(32), type 1 only] || iv(12) || sealed``
in standard base64; ``sealed`` is the ChaCha20-Poly1305 ciphertext followed by its 16-byte tag.
Every malformed input raises :class:`CryptoError` (or :class:`EnvelopeError`) and nothing else.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_LEN = 32
IV_LEN = 12
TAG_LEN = 16
TYPE_0 = 0  # sealed with the topic's symmetric key
TYPE_1 = 1  # carries the sender's X25519 public key (key derived from it)
MAX_ENVELOPE = 512 * 1024  # relay messages are far smaller; refuse absurd input early

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class CryptoError(ValueError):
    """A key, topic or envelope that is not valid."""


class EnvelopeError(CryptoError):
    """A relay message that is not a valid envelope for the key (bad base64, type, length, tag)."""


def random_key() -> bytes:
    return os.urandom(KEY_LEN)


def _check_key(key: bytes, what: str = "key") -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_LEN:
        raise CryptoError(f"{what} must be {KEY_LEN} bytes")
    return bytes(key)


def key_from_hex(text: str, what: str = "key") -> bytes:
    """32 bytes from 64 hex characters. Raises CryptoError otherwise."""
    if not isinstance(text, str) or not _HEX64.fullmatch(text):
        raise CryptoError(f"{what} must be 64 hex characters")
    return bytes.fromhex(text)


def topic_of(key: bytes) -> str:
    """The relay topic of a symmetric key: sha256 of the raw key bytes, lowercase hex."""
    return hashlib.sha256(_check_key(key)).hexdigest()


def is_topic(text: object) -> bool:
    return isinstance(text, str) and bool(_HEX64.fullmatch(text)) and text == text.lower()


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair as raw bytes (what WalletConnect sends as 64-char hex)."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        sk = X25519PrivateKey.from_private_bytes(_check_key(private, "private key"))
        public = sk.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(bytes(private), public)

    def __repr__(self) -> str:  # never print the private half
        return f"KeyPair(public={self.public.hex()})"


def shared_secret(private: bytes, peer_public: bytes) -> bytes:
    """X25519(private, peer_public). Raises CryptoError for a bad or low-order peer key."""
    sk = X25519PrivateKey.from_private_bytes(_check_key(private, "private key"))
    try:
        return sk.exchange(X25519PublicKey.from_public_bytes(_check_key(peer_public, "public key")))
    except ValueError as exc:  # all-zero result: a low-order point
        raise CryptoError("the peer's public key is not usable") from exc


def hkdf_sym_key(shared: bytes) -> bytes:
    """HKDF-SHA256 with no salt and no info, 32 bytes (stablelib ``HKDF(SHA256, k).expand(32)``)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=None, info=b"").derive(shared)


def derive_sym_key(private: bytes, peer_public: bytes) -> bytes:
    """The session key both sides compute from their private and the other's public key."""
    return hkdf_sym_key(shared_secret(private, peer_public))


def b64encode(raw: bytes) -> str:
    """Standard base64 with padding (what the JS SDK publishes)."""
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def b64decode(text: str) -> bytes:
    """Standard base64; missing padding is tolerated (pyWalletConnect strips it).
    Raises EnvelopeError for anything else (URL-safe alphabet, stray characters)."""
    if not isinstance(text, str) or len(text) > MAX_ENVELOPE * 2 or not _B64.fullmatch(text):
        raise EnvelopeError("not standard base64")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise EnvelopeError("not standard base64")
    try:
        return binascii.a2b_base64(stripped + "=" * (-len(stripped) % 4), strict_mode=True)
    except binascii.Error as exc:
        raise EnvelopeError("not standard base64") from exc


@dataclass(frozen=True, slots=True)
class Envelope:
    type: int
    iv: bytes
    sealed: bytes
    sender_public: bytes | None = None

    def encode(self) -> str:
        head = bytes([self.type]) + (self.sender_public or b"")
        return b64encode(head + self.iv + self.sealed)


def parse_envelope(message: str) -> Envelope:
    """Split a base64 envelope into its parts. Raises EnvelopeError (type 2 and above are not
    accepted: link-mode messages are unencrypted and never come over the relay to us)."""
    raw = b64decode(message)
    if not raw:
        raise EnvelopeError("empty envelope")
    kind = raw[0]
    if kind == TYPE_0:
        head, sender = 1, None
    elif kind == TYPE_1:
        head, sender = 1 + KEY_LEN, raw[1 : 1 + KEY_LEN]
    else:
        raise EnvelopeError(f"unsupported envelope type {kind}")
    if len(raw) < head + IV_LEN + TAG_LEN:
        raise EnvelopeError("envelope too short")
    return Envelope(kind, raw[head : head + IV_LEN], raw[head + IV_LEN :], sender)


def seal(
    key: bytes,
    plaintext: bytes,
    *,
    iv: bytes | None = None,
    sender_public: bytes | None = None,
) -> str:
    """Encrypt ``plaintext`` into a base64 envelope: type 1 when ``sender_public`` is given."""
    key = _check_key(key)
    iv = os.urandom(IV_LEN) if iv is None else iv
    if len(iv) != IV_LEN:
        raise CryptoError(f"iv must be {IV_LEN} bytes")
    if sender_public is not None:
        _check_key(sender_public, "sender public key")
    sealed = ChaCha20Poly1305(key).encrypt(iv, plaintext, None)
    kind = TYPE_0 if sender_public is None else TYPE_1
    return Envelope(kind, iv, sealed, sender_public).encode()


def decrypt(key: bytes, envelope: Envelope) -> bytes:
    """Open a parsed envelope. Raises EnvelopeError when the tag does not verify."""
    try:
        return ChaCha20Poly1305(_check_key(key)).decrypt(envelope.iv, envelope.sealed, None)
    except InvalidTag as exc:
        raise EnvelopeError("envelope does not authenticate with this key") from exc


def unseal(key: bytes, message: str) -> bytes:
    """Parse and open ``message`` with ``key`` (type 0 or 1). Raises EnvelopeError."""
    return decrypt(key, parse_envelope(message))


def encode_json(payload: Any) -> bytes:
    """Compact JSON, as the JS SDK's ``safeJsonStringify`` writes it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def seal_json(key: bytes, payload: Any, **kwargs: Any) -> str:
    return seal(key, encode_json(payload), **kwargs)
