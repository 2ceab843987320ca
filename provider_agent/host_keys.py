"""A fresh SSH host key per instance, in dropbear's key file format.

Each instance gets its own ed25519 host key, so a renter who checks the fingerprint in the
credentials knows they reached their own container and not another one on the host. The
private half stays on the host (a file in the instance's read-only run directory); only the
fingerprint leaves it.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provider_agent.ssh_keys import fingerprint_of_blob

_KEY_TYPE = b"ssh-ed25519"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@dataclass(frozen=True, slots=True)
class HostKey:
    """``dropbear_key`` is the private key file; ``public_line`` and ``fingerprint`` as
    OpenSSH prints them (``ssh-keygen -lf``)."""

    dropbear_key: bytes = field(repr=False)
    public_line: str
    fingerprint: str


def new_host_key() -> HostKey:
    private = Ed25519PrivateKey.generate()
    secret = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    # dropbear's format: string "ssh-ed25519", string (32-byte secret || 32-byte public)
    dropbear_key = _string(_KEY_TYPE) + _string(secret + public)
    blob = _string(_KEY_TYPE) + _string(public)

    line = f"ssh-ed25519 {base64.b64encode(blob).decode()}"
    return HostKey(dropbear_key, line, fingerprint_of_blob(blob))
