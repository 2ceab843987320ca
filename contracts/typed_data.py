"""What a renter signs for the escrow, as pure functions (no chain connection needed).

The builders return EIP-712 typed data in the ``eth_signTypedData_v4`` shape (``types``,
``primaryType``, ``domain``, ``message``) that a WalletConnect signing request carries and that
``eth_account.Account.sign_typed_data(full_message=...)`` signs. Integers stay Python ints;
:func:`to_json` renders them as decimal strings for wallets. The hashing mirrors
``contracts/src/RentalEscrow.sol`` exactly (see its header for the encodings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

ESCROW_NAME = "RigshareEscrow"
ESCROW_VERSION = "1"
EXTEND_NONCE_TAG = keccak(text="rigshare.RentalEscrow.extend")

_TERMS_TYPES = ["address", "uint96", "uint96", "bytes32", "uint40", "bytes32", "uint256", "address"]

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_AUTHORIZATION_FIELDS = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
_PERMIT_FIELDS = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
_STOP_FIELDS = [
    {"name": "id", "type": "bytes32"},
    {"name": "settle", "type": "bool"},
    {"name": "deadline", "type": "uint256"},
]
_DISPUTE_FIELDS = [
    {"name": "id", "type": "bytes32"},
    {"name": "evidenceHash", "type": "bytes32"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True, slots=True)
class RentalTerms:
    """The terms a renter commits to (``RentalEscrow.Terms``). Amounts in micro-USDC."""

    provider: str
    price_per_hour: int
    deposit: int
    listing_id: bytes
    quote_expiry: int
    salt: bytes

    def __post_init__(self) -> None:
        if len(self.listing_id) != 32 or len(self.salt) != 32:
            raise ValueError("listing_id and salt must be 32 bytes")
        if not (0 < self.price_per_hour < 2**96 and 0 < self.deposit < 2**96):
            raise ValueError("price_per_hour and deposit must fit in uint96 and be positive")
        if not 0 < self.quote_expiry < 2**40:
            raise ValueError("quote_expiry must be a unix time in uint40")
        object.__setattr__(self, "provider", to_checksum_address(self.provider))

    def as_tuple(self) -> tuple[str, int, int, bytes, int, bytes]:
        """The ``Terms`` struct as a web3 contract-call argument."""
        return (
            self.provider,
            self.price_per_hour,
            self.deposit,
            self.listing_id,
            self.quote_expiry,
            self.salt,
        )


@dataclass(frozen=True, slots=True)
class Eip712Domain:
    """An EIP-712 domain with name, version, chainId and verifyingContract."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def listing_id_bytes(listing_id: int | str | bytes) -> bytes:
    """A listing identifier as the contract's ``bytes32``: ints big-endian, text UTF-8 left-aligned."""
    if isinstance(listing_id, bytes):
        raw = listing_id
        if len(raw) > 32:
            raise ValueError("listing id longer than 32 bytes")
        return raw.ljust(32, b"\0")
    if isinstance(listing_id, int):
        return listing_id.to_bytes(32, "big")
    return listing_id_bytes(listing_id.encode("utf-8"))


def terms_hash(terms: RentalTerms, chain_id: int, escrow: str) -> bytes:
    """``keccak256(abi.encode(terms, chainid, escrow))``: the opening EIP-3009 nonce."""
    return keccak(encode(_TERMS_TYPES, [*terms.as_tuple(), chain_id, to_checksum_address(escrow)]))


def rental_id(terms: RentalTerms, renter: str, chain_id: int, escrow: str) -> bytes:
    """``keccak256(abi.encode(termsHash, renter))``: the id the rental will have on chain."""
    return keccak(
        encode(
            ["bytes32", "address"],
            [terms_hash(terms, chain_id, escrow), to_checksum_address(renter)],
        )
    )


def extend_nonce(rental: bytes, amount: int, salt: bytes) -> bytes:
    """``keccak256(abi.encode(EXTEND_NONCE_TAG, id, amount, salt))``: an extension's EIP-3009 nonce."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "uint96", "bytes32"], [EXTEND_NONCE_TAG, rental, amount, salt]
        )
    )


def escrow_domain(chain_id: int, escrow: str) -> Eip712Domain:
    return Eip712Domain(ESCROW_NAME, ESCROW_VERSION, chain_id, escrow)


def _typed(
    primary: str, fields: list[dict[str, str]], domain: Eip712Domain, message: dict[str, Any]
) -> dict[str, Any]:
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": message,
    }


def receive_with_authorization(
    token_domain: Eip712Domain,
    from_: str,
    to: str,
    value: int,
    valid_after: int,
    valid_before: int,
    nonce: bytes,
) -> dict[str, Any]:
    """EIP-3009 ``ReceiveWithAuthorization`` typed data for the token's domain."""
    return _typed(
        "ReceiveWithAuthorization",
        _AUTHORIZATION_FIELDS,
        token_domain,
        {
            "from": to_checksum_address(from_),
            "to": to_checksum_address(to),
            "value": value,
            "validAfter": valid_after,
            "validBefore": valid_before,
            "nonce": "0x" + nonce.hex(),
        },
    )


def open_authorization(
    terms: RentalTerms, renter: str, token_domain: Eip712Domain, escrow: str
) -> dict[str, Any]:
    """The renter's one signature that opens a rental (relayed to ``openWithAuthorization``)."""
    return receive_with_authorization(
        token_domain,
        renter,
        escrow,
        terms.deposit,
        0,
        terms.quote_expiry,
        terms_hash(terms, token_domain.chain_id, escrow),
    )


def extend_authorization(
    rental: bytes,
    amount: int,
    salt: bytes,
    valid_before: int,
    renter: str,
    token_domain: Eip712Domain,
    escrow: str,
) -> dict[str, Any]:
    """The renter's signature that adds ``amount`` to a rental (``extendWithAuthorization``)."""
    return receive_with_authorization(
        token_domain, renter, escrow, amount, 0, valid_before, extend_nonce(rental, amount, salt)
    )


def permit(
    token_domain: Eip712Domain, owner: str, spender: str, value: int, nonce: int, deadline: int
) -> dict[str, Any]:
    """EIP-2612 ``Permit`` typed data (for ``openWithPermit``, sent by the renter himself)."""
    return _typed(
        "Permit",
        _PERMIT_FIELDS,
        token_domain,
        {
            "owner": to_checksum_address(owner),
            "spender": to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    )


def stop_message(
    domain: Eip712Domain, rental: bytes, settle: bool, deadline: int
) -> dict[str, Any]:
    """The renter's ``Stop``; with ``settle`` the challenge window is waived (``stopWithSignature``)."""
    return _typed(
        "Stop",
        _STOP_FIELDS,
        domain,
        {"id": "0x" + rental.hex(), "settle": settle, "deadline": deadline},
    )


def dispute_message(
    domain: Eip712Domain, rental: bytes, evidence_hash: bytes, deadline: int
) -> dict[str, Any]:
    """A renter's or provider's ``Dispute`` (``openDisputeWithSignature``)."""
    return _typed(
        "Dispute",
        _DISPUTE_FIELDS,
        domain,
        {
            "id": "0x" + rental.hex(),
            "evidenceHash": "0x" + evidence_hash.hex(),
            "deadline": deadline,
        },
    )


def digest(typed: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 hash a wallet signs for ``typed``."""
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def split_signature(signature: bytes) -> tuple[int, bytes, bytes]:
    """A 65-byte ``r || s || v`` signature as ``(v, r, s)`` for the contract calls."""
    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    v = signature[64]
    if v < 27:
        v += 27
    return v, signature[:32], signature[32:64]


def to_json(typed: dict[str, Any]) -> str:
    """``typed`` as JSON for a wallet: integers of the message as decimal strings."""
    message = {
        k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in typed["message"].items()
    }
    return json.dumps({**typed, "message": message}, separators=(",", ":"))
