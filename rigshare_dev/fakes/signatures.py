"""The fake wallet's signature scheme, verifiable like the real one (``chain="fake"``).

``fake_signature`` (rigshare_dev/fakes/escrow.py) carries the signer's address after a digest of
signer and payload, so the signer can be "recovered": the digest is recomputed for that
address and must match, else the signature is invalid. Changing one byte of the payload, the
address or the digest makes recovery fail, as with a real ECDSA signature.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rigshare_dev.fakes.escrow import fake_signature

_FAKE = re.compile(r"^0x[0-9a-f]{64}([0-9a-f]{40})0{24}1b$")


def personal_payload(message: str) -> dict[str, str]:
    """What the fake wallet signs for a ``personal_sign`` of ``message``."""
    return {"personal_sign": message}


class FakeSignatureVerifier:
    """Implements core.ports.SignatureVerifier for fake signatures; never raises."""

    def recover_message(self, message: str, signature: str) -> str | None:
        return _recover(personal_payload(message), signature)

    def recover_typed_data(self, typed_data: Mapping[str, Any], signature: str) -> str | None:
        return _recover(dict(typed_data), signature)


def _recover(payload: Any, signature: str) -> str | None:
    if not isinstance(signature, str):
        return None
    match = _FAKE.match(signature)
    if match is None:
        return None
    signer = "0x" + match.group(1)
    return signer if fake_signature(signer, payload) == signature else None
