"""contracts.typed_data hashes exactly what the contracts hash; the typed data is wallet-ready."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.typed_data import (
    ESCROW_NAME,
    EXTEND_NONCE_TAG,
    RentalTerms,
    digest,
    dispute_message,
    escrow_domain,
    extend_nonce,
    listing_id_bytes,
    open_authorization,
    permit,
    rental_id,
    split_signature,
    stop_message,
    terms_hash,
    to_json,
)
from tests.contracts.sandbox import USDC, Sandbox

ESCROW = "0x" + "ab" * 20
PROVIDER = "0x" + "cd" * 20


def _terms(**kw) -> RentalTerms:
    base = dict(
        provider=PROVIDER,
        price_per_hour=2 * USDC,
        deposit=6 * USDC,
        listing_id=listing_id_bytes(7),
        quote_expiry=1_900_000_000,
        salt=keccak(text="s"),
    )
    base.update(kw)
    return RentalTerms(**base)


terms_strategy = st.builds(
    RentalTerms,
    provider=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    price_per_hour=st.integers(1, 2**96 - 1),
    deposit=st.integers(1, 2**96 - 1),
    listing_id=st.binary(min_size=32, max_size=32),
    quote_expiry=st.integers(1, 2**40 - 1),
    salt=st.binary(min_size=32, max_size=32),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(terms=terms_strategy, renter=st.binary(min_size=20, max_size=20))
def test_hashes_match_the_contract(sb: Sandbox, terms: RentalTerms, renter: bytes) -> None:
    chain_id, escrow = sb.w3.eth.chain_id, sb.escrow.address
    renter_address = sb.w3.to_checksum_address(renter)
    f = sb.escrow.functions
    assert f.termsHash(terms.as_tuple()).call() == terms_hash(terms, chain_id, escrow)
    assert f.rentalId(terms.as_tuple(), renter_address).call() == rental_id(
        terms, renter_address, chain_id, escrow
    )
    amount = terms.deposit
    assert f.extendNonce(terms.salt, amount, terms.listing_id).call() == extend_nonce(
        terms.salt, amount, terms.listing_id
    )


def test_escrow_domain_matches_the_contract(sb: Sandbox) -> None:
    _, name, version, chain_id, verifying, _, _ = sb.escrow.functions.eip712Domain().call()
    domain = sb.escrow_domain()
    assert (name, version, chain_id, verifying) == (
        domain.name,
        domain.version,
        domain.chain_id,
        domain.verifying_contract,
    )
    assert name == ESCROW_NAME
    typed = stop_message(domain, b"\x01" * 32, False, 1)
    header = encode_typed_data(full_message=typed).header
    assert sb.escrow.functions.domainSeparator().call() == header
    assert sb.escrow.functions.EXTEND_NONCE_TAG().call() == EXTEND_NONCE_TAG
    assert sb.escrow.functions.STOP_TYPEHASH().call() == keccak(
        text="Stop(bytes32 id,bool settle,uint256 deadline)"
    )
    assert sb.escrow.functions.DISPUTE_TYPEHASH().call() == keccak(
        text="Dispute(bytes32 id,bytes32 evidenceHash,uint256 deadline)"
    )


def test_token_domain_separator_matches(sb: Sandbox) -> None:
    domain = sb.token_domain()
    assert (domain.name, domain.version) == ("USD Coin", "2")
    typed = permit(domain, PROVIDER, ESCROW, 1, 0, 1)
    assert (
        sb.token.functions.DOMAIN_SEPARATOR().call() == encode_typed_data(full_message=typed).header
    )


def test_open_authorization_binds_terms_and_expiry() -> None:
    terms = _terms()
    domain = escrow_domain(137, "0x" + "11" * 20)  # stands in for the token's domain
    typed = open_authorization(terms, "0x" + "22" * 20, domain, ESCROW)
    msg = typed["message"]
    assert typed["primaryType"] == "ReceiveWithAuthorization"
    assert (msg["from"], msg["to"]) == (
        to_checksum_address("0x" + "22" * 20),
        to_checksum_address(ESCROW),
    )
    assert msg["value"] == terms.deposit
    assert (msg["validAfter"], msg["validBefore"]) == (0, terms.quote_expiry)
    assert msg["nonce"] == "0x" + terms_hash(terms, 137, ESCROW).hex()


def test_digest_is_what_the_signer_signs() -> None:
    acct = Account.from_key(keccak(text="typed-data-test"))
    typed = dispute_message(escrow_domain(1, ESCROW), b"\x05" * 32, b"\x06" * 32, 99)
    signed = acct.sign_typed_data(full_message=typed)
    # RFC 6979 signatures are deterministic: same key and hash, same signature
    assert acct.unsafe_sign_hash(digest(typed)).signature == signed.signature


def test_to_json_survives_a_wallet_round_trip() -> None:
    acct = Account.from_key(keccak(text="typed-data-test"))
    typed = open_authorization(
        _terms(deposit=2**95), acct.address, escrow_domain(1, PROVIDER), ESCROW
    )
    wire = json.loads(to_json(typed))
    assert wire["message"]["value"] == str(2**95)
    assert wire["domain"]["chainId"] == 1
    assert (
        acct.sign_typed_data(full_message=wire).signature
        == acct.sign_typed_data(full_message=typed).signature
    )


def test_split_signature() -> None:
    sig = bytes(range(64)) + bytes([1])
    v, r, s = split_signature(sig)
    assert (v, r, s) == (28, sig[:32], sig[32:64])
    assert split_signature(bytes(64) + bytes([27]))[0] == 27
    with pytest.raises(ValueError):
        split_signature(b"\x00" * 64)


def test_listing_ids() -> None:
    assert listing_id_bytes(1) == b"\x00" * 31 + b"\x01"
    assert listing_id_bytes("gpu-4090") == b"gpu-4090".ljust(32, b"\0")
    assert listing_id_bytes(b"\x01" * 32) == b"\x01" * 32
    with pytest.raises(ValueError):
        listing_id_bytes(b"\x01" * 33)


@pytest.mark.parametrize(
    "kw",
    [
        {"listing_id": b"\x00" * 31},
        {"salt": b"\x00" * 33},
        {"price_per_hour": 0},
        {"deposit": 2**96},
        {"quote_expiry": 0},
        {"quote_expiry": 2**40},
    ],
)
def test_terms_validation(kw: dict) -> None:
    with pytest.raises(ValueError):
        _terms(**kw)


def test_terms_checksum_the_provider() -> None:
    assert _terms(provider=PROVIDER.lower()).provider == to_checksum_address(PROVIDER)
