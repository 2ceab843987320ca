"""Fresh SSH host keys per instance, in dropbear's key file format.

Each instance gets its own ed25519 host key, so a renter who checks the fingerprint in the
credentials knows they reached their own container and not another one on the host. The
private half stays on the host (a file in the instance's read-only run directory); only the
fingerprint leaves it.

Each instance also gets an RSA key of its own: dropbear 2022.83 offers ``rsa-sha2-256`` even
when it has no RSA key and then aborts the connection of a client that picks it (asyncssh
does, by default). OpenSSH and other current clients prefer ed25519, whose fingerprint the
credentials carry; our own clients ask for ed25519 only.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
    dropbear_rsa_key: bytes = field(default=b"", repr=False)


def _mpint(value: int) -> bytes:
    return _string(value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b"")


def _dropbear_rsa() -> bytes:
    # dropbear's format: string "ssh-rsa", mpint e, n, d, p, q
    numbers = rsa.generate_private_key(65537, 2048).private_numbers()
    public = numbers.public_numbers
    return _string(b"ssh-rsa") + b"".join(
        _mpint(v) for v in (public.e, public.n, numbers.d, numbers.p, numbers.q)
    )


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
    return HostKey(dropbear_key, line, fingerprint_of_blob(blob), _dropbear_rsa())
