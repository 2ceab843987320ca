"""SSH public keys: what a valid one is, in one place for the chat and the provider agent.

A renter's key is accepted in the chat (``/sshkey``) and installed by the agent on the host;
both check it with these rules, so a key the chat accepts is never refused by the agent when
the rental starts. Strict on purpose: one key type and base64 blob, canonical, the blob's own
structure checked (RFC 4253), RSA of 2048 bits or more; no authorized_keys options.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass


class InvalidPublicKey(ValueError):
    """Not a key we install; the message says why, for the person who sent it. ``bits``: the
    size of an RSA key refused as too small."""

    def __init__(self, reason: str, *, bits: int | None = None) -> None:
        super().__init__(reason)
        self.bits = bits


MAX_KEY_CHARS = 8192
MIN_RSA_BITS = 2048
_ECDSA_POINT = {"nistp256": 65, "nistp384": 97, "nistp521": 133}
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "sk-ssh-ed25519@openssh.com",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A validated public key, comment dropped (the agent writes its own tag instead)."""

    key_type: str
    blob_b64: str

    @property
    def line(self) -> str:
        return f"{self.key_type} {self.blob_b64}"

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_blob(base64.b64decode(self.blob_b64))


def fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's ``SHA256:<unpadded base64>`` fingerprint of a key blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def string(self) -> bytes:
        if self._pos + 4 > len(self._data):
            raise InvalidPublicKey("That SSH public key is truncated.")
        size = int.from_bytes(self._data[self._pos : self._pos + 4], "big")
        start, self._pos = self._pos + 4, self._pos + 4 + size
        if self._pos > len(self._data):
            raise InvalidPublicKey("That SSH public key is truncated.")
        return self._data[start : self._pos]

    def done(self) -> bool:
        return self._pos == len(self._data)


def _check_blob(key_type: str, blob: bytes) -> None:
    reader = _Reader(blob)
    embedded = reader.string()
    if embedded != key_type.encode():
        raise InvalidPublicKey(
            f"That key says {key_type} but its data is a {embedded[:40]!r} key; paste the .pub "
            "file unchanged."
        )
    if key_type in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        if len(reader.string()) != 32:
            raise InvalidPublicKey("That ed25519 key has the wrong length.")
    elif key_type == "ssh-rsa":
        exponent = int.from_bytes(reader.string(), "big")
        bits = int.from_bytes(reader.string(), "big").bit_length()
        if exponent < 3 or exponent % 2 == 0:
            raise InvalidPublicKey("That RSA key has an invalid exponent.")
        if bits < MIN_RSA_BITS:
            raise InvalidPublicKey(
                f"That RSA key has {bits} bits; use at least {MIN_RSA_BITS}, or ed25519.",
                bits=bits,
            )
    else:
        curve = reader.string().decode("ascii", "replace")
        if curve not in _ECDSA_POINT or f"-{curve}" not in key_type:
            raise InvalidPublicKey("That ECDSA key names the wrong curve.")
        if len(reader.string()) != _ECDSA_POINT[curve]:
            raise InvalidPublicKey("That ECDSA key has a malformed point.")
    if key_type.startswith("sk-"):
        reader.string()  # FIDO application, e.g. "ssh:"
    if not reader.done():
        raise InvalidPublicKey("That SSH public key has trailing data.")


def parse_public_key(text: object) -> PublicKey:
    """Validate one OpenSSH public key line (``type base64 [comment]``), with no options.

    Raises InvalidPublicKey with a user-facing reason.
    """
    if not isinstance(text, str):
        raise InvalidPublicKey("An SSH public key must be text.")
    text = text.strip()
    if not text:
        raise InvalidPublicKey("The SSH public key is empty.")
    if len(text) > MAX_KEY_CHARS:
        raise InvalidPublicKey("That SSH public key is too long.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidPublicKey("An SSH public key must be one line without control characters.")
    parts = text.split(None, 2)
    if parts[0] not in KEY_TYPES:
        raise InvalidPublicKey(
            "That is not a supported SSH public key (expected e.g. 'ssh-ed25519 AAAA...'; "
            "key options are not allowed)."
        )
    if len(parts) < 2:
        raise InvalidPublicKey("That SSH public key has no key data.")
    key_type, b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPublicKey("That SSH public key's data is not valid base64.") from exc
    if base64.b64encode(blob).decode() != b64:
        raise InvalidPublicKey("That SSH public key's data is not canonical base64.")
    _check_blob(key_type, blob)
    return PublicKey(key_type, b64)
