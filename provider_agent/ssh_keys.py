"""SSH public keys: strict validation, OpenSSH fingerprints, authorized_keys lines, key pairs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from provider_agent.errors import InvalidPublicKey, InvalidRentalId

MAX_KEY_CHARS = 8192
MIN_RSA_BITS = 2048
TAG_PREFIX = "rigshare:"
_RENTAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
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


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ed25519 key pair; the private half never appears in repr() or logs."""

    private_key: str = field(repr=False)
    public_key: str


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
                f"That RSA key has {bits} bits; use at least {MIN_RSA_BITS}, or ed25519."
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


def check_rental_id(rental_id: object) -> str:
    """Return the rental id if it is safe as a tag and account-name seed, else raise."""
    if not isinstance(rental_id, str) or not _RENTAL_ID.match(rental_id):
        raise InvalidRentalId(
            f"rental id {rental_id!r} must be 1-64 letters, digits, '-' or '_' "
            "and start with a letter or digit"
        )
    return rental_id


def expiry_time(epoch: int) -> str:
    """``expiry-time`` value for authorized_keys: ``YYYYMMDDHHMMSSZ`` in UTC (sshd(8))."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y%m%d%H%M%SZ")


def authorized_line(key: PublicKey, tag: str, expires_at: int, *, pty: bool = True) -> str:
    """An authorized_keys line: restricted, optional pty, expiring at ``expires_at``, tagged."""
    options = "restrict,pty" if pty else "restrict"
    return f'{options},expiry-time="{expiry_time(expires_at)}" {key.line} {tag}'


def line_tag(line: str) -> str | None:
    """The ``rigshare:...`` tag (last field) of an authorized_keys line, if any."""
    last = line.rstrip().rsplit(None, 1)[-1] if line.strip() else ""
    return last if last.startswith(TAG_PREFIX) else None


def line_blob(line: str) -> str | None:
    """The base64 key blob of an authorized_keys line (options allowed before the type)."""
    tokens = line.split()
    for i, token in enumerate(tokens[:-1]):
        if token in KEY_TYPES:
            return tokens[i + 1]
    return None


def host_key_fingerprint(path_or_pubkey: str | os.PathLike[str]) -> str:
    """``SHA256:...`` of a host key given as a public key line or a key file path.

    A private key path is accepted when its ``.pub`` sits beside it. Raises InvalidPublicKey or
    OSError.
    """
    text = str(path_or_pubkey)
    if (text.split(None, 1) or [""])[0] not in KEY_TYPES:
        path = Path(text)
        if not path.name.endswith(".pub") and Path(f"{path}.pub").exists():
            path = Path(f"{path}.pub")
        text = path.read_text(encoding="utf-8").strip().splitlines()[0]
    return parse_public_key(text).fingerprint


def generate_keypair(comment: str = "rigshare") -> KeyPair:
    """A fresh ed25519 pair: OpenSSH-format private key text and a public key line."""
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return KeyPair(
        private_key=key.export_private_key("openssh").decode(),
        public_key=key.export_public_key("openssh").decode().strip(),
    )
