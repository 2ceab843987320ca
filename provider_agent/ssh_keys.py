"""SSH public keys on the host: authorized_keys lines, key pairs, host key fingerprints.

What a valid public key is lives in ``core.domain.ssh_keys`` (the chat checks renters' keys
with the same rules); ``parse_public_key`` here raises the agent's own error for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.domain import ssh_keys as rules
from core.domain.ssh_keys import (
    KEY_TYPES,
    MAX_KEY_CHARS,
    MIN_RSA_BITS,
    PublicKey,
    fingerprint_of_blob,
)
from provider_agent.errors import InvalidPublicKey, InvalidRentalId

__all__ = [
    "KEY_TYPES", "MAX_KEY_CHARS", "MIN_RSA_BITS", "KeyPair", "PublicKey", "authorized_line",
    "check_rental_id", "expiry_time", "fingerprint_of_blob", "generate_keypair",
    "host_key_fingerprint", "line_blob", "line_tag", "parse_public_key",
]  # fmt: skip
TAG_PREFIX = "rigshare:"
_RENTAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def parse_public_key(text: object) -> PublicKey:
    """Validate one OpenSSH public key line (``type base64 [comment]``), with no options.

    Raises InvalidPublicKey (the agent's access error) with a user-facing reason.
    """
    try:
        return rules.parse_public_key(text)
    except rules.InvalidPublicKey as exc:
        raise InvalidPublicKey(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ed25519 key pair; the private half never appears in repr() or logs."""

    private_key: str = field(repr=False)
    public_key: str


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
