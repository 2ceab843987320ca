"""Who signed: ECDSA recovery of EIP-191 ``personal_sign`` and EIP-712 typed data."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

log = logging.getLogger(__name__)
_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")


class EthSignatureVerifier:
    """Implements core.ports.SignatureVerifier with eth_account; never raises.

    Only 65-byte signatures are accepted (no EIP-2098 compact form, no ERC-1271 contract
    wallets: a smart-contract wallet's signature cannot be recovered off chain).
    """

    def recover_message(self, message: str, signature: str) -> str | None:
        if not isinstance(message, str) or not _well_formed(signature):
            return None
        try:
            return Account.recover_message(encode_defunct(text=message), signature=signature)
        except Exception:  # bad curve point, bad v: an invalid signature, not a bug
            log.info("personal_sign signature did not recover")
            return None

    def recover_typed_data(self, typed_data: Mapping[str, Any], signature: str) -> str | None:
        if not isinstance(typed_data, Mapping) or not _well_formed(signature):
            return None
        try:
            encoded = encode_typed_data(full_message=dict(typed_data))
            return Account.recover_message(encoded, signature=signature)
        except Exception:  # malformed typed data or signature: invalid, not a bug
            log.info("typed-data signature did not recover")
            return None


def _well_formed(signature: object) -> bool:
    return isinstance(signature, str) and _SIGNATURE.match(signature) is not None
