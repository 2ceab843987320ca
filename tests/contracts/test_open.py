"""Opening a rental: EIP-3009 (gasless), approve + open, permit + open, and every refusal."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from contracts.typed_data import (
    RentalTerms,
    open_authorization,
    permit,
    split_signature,
    terms_hash,
)
from tests.contracts.helpers import (
    ON_BOTH_TOKENS,
    Status,
    balance,
    block_time,
    open_rental,
    rental,
)
from tests.contracts.sandbox import USDC, Sandbox

pytestmark = ON_BOTH_TOKENS


def _auth_call(sb: Sandbox, terms: RentalTerms, renter: str = "renter", signer: str | None = None):
    typed = open_authorization(terms, sb.addr(renter), sb.token_domain(), sb.escrow.address)
    v, r, s = split_signature(sb.sign_typed(signer or renter, typed))
    return sb.escrow.functions.openWithAuthorization(terms.as_tuple(), sb.addr(renter), v, r, s)


def test_open_with_authorization_locks_deposit_and_records_terms(sb: Sandbox) -> None:
    terms = sb.terms(deposit=6 * USDC, price_per_hour=2 * USDC, listing=42)
    before = balance(sb, "renter")
    rid, receipt = sb.open_by_authorization(terms, relayer="operator")
    assert rid == sb.escrow.functions.rentalId(terms.as_tuple(), sb.addr("renter")).call()
    assert balance(sb, "renter") == before - 6 * USDC
    assert sb.token.functions.balanceOf(sb.escrow.address).call() == 6 * USDC
    assert sb.escrow.functions.totalLocked().call() == 6 * USDC
    r = rental(sb, rid)
    assert r["status"] == Status.PENDING
    assert (r["renter"], r["provider"], r["arbiter"]) == (
        sb.addr("renter"),
        sb.addr("provider"),
        sb.addr("arbiter"),
    )
    assert (r["deposit"], r["pricePerHour"], r["feeBps"]) == (6 * USDC, 2 * USDC, 1200)
    opened_at = block_time(sb, receipt)
    assert r["openedAt"] == opened_at
    assert r["deadline"] == opened_at + sb.params.accept_timeout
    (ev,) = sb.events(receipt, "RentalOpened")
    assert ev["id"] == rid and ev["renter"] == sb.addr("renter")
    assert ev["provider"] == sb.addr("provider")
    assert ev["listingId"] == (42).to_bytes(32, "big")
    assert (ev["deposit"], ev["pricePerHour"], ev["feeBps"]) == (6 * USDC, 2 * USDC, 1200)
    (used,) = sb.events(receipt, "AuthorizationUsed", sb.token)
    assert used["nonce"] == terms_hash(terms, sb.w3.eth.chain_id, sb.escrow.address)


def test_anyone_may_relay_the_signed_open(sb: Sandbox) -> None:
    rid, _ = sb.open_by_authorization(sb.terms(), relayer="stranger")
    assert rental(sb, rid)["status"] == Status.PENDING


def test_open_by_transaction_after_approve(sb: Sandbox) -> None:
    terms = sb.terms()
    sb.send(sb.token.functions.approve(sb.escrow.address, terms.deposit), "renter")
    receipt = sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter")
    rid = sb.rental_id(terms)
    assert sb.events(receipt, "RentalOpened")[0]["id"] == rid
    assert rental(sb, rid)["status"] == Status.PENDING
    assert sb.token.functions.balanceOf(sb.escrow.address).call() == terms.deposit


def test_open_by_transaction_without_allowance_reverts(sb: Sandbox) -> None:
    with sb.reverts(sb.token_refusal("allowance")):
        sb.send(sb.escrow.functions.open(sb.terms().as_tuple()), "renter")


def _permit_args(sb: Sandbox, value: int, deadline: int) -> tuple[int, bytes, bytes]:
    nonce = sb.token.functions.nonces(sb.addr("renter")).call()
    typed = permit(sb.token_domain(), sb.addr("renter"), sb.escrow.address, value, nonce, deadline)
    return split_signature(sb.sign_typed("renter", typed))


def test_open_with_permit(sb: Sandbox) -> None:
    terms = sb.terms()
    deadline = sb.next_timestamp() + 600
    v, r, s = _permit_args(sb, terms.deposit, deadline)
    sb.send(sb.escrow.functions.openWithPermit(terms.as_tuple(), deadline, v, r, s), "renter")
    assert rental(sb, sb.rental_id(terms))["status"] == Status.PENDING
    assert sb.token.functions.allowance(sb.addr("renter"), sb.escrow.address).call() == 0


def test_open_with_permit_survives_a_front_run_permit(sb: Sandbox) -> None:
    terms = sb.terms()
    deadline = sb.next_timestamp() + 600
    v, r, s = _permit_args(sb, terms.deposit, deadline)
    # someone copies the permit out of the mempool and submits it first
    front_run = sb.token.functions.permit(
        sb.addr("renter"), sb.escrow.address, terms.deposit, deadline, v, r, s
    )
    sb.send(front_run, "stranger")
    sb.send(sb.escrow.functions.openWithPermit(terms.as_tuple(), deadline, v, r, s), "renter")
    assert rental(sb, sb.rental_id(terms))["status"] == Status.PENDING


def test_open_with_bad_permit_and_no_allowance_reverts(sb: Sandbox) -> None:
    terms = sb.terms()
    deadline = sb.next_timestamp() + 600
    v, r, s = _permit_args(sb, terms.deposit + 1, deadline)  # signed for another value
    with sb.reverts(sb.token_refusal("allowance")):
        sb.send(sb.escrow.functions.openWithPermit(terms.as_tuple(), deadline, v, r, s), "renter")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"deposit": USDC - 1}, "DepositTooSmall"),
        ({"deposit": 1 * USDC, "price_per_hour": 7 * USDC}, "PrepaidTimeOutOfRange"),  # 514 s < 600
        ({"deposit": 100 * USDC, "price_per_hour": 1}, "PrepaidTimeOutOfRange"),  # > 10 years
        ({"provider": "renter"}, "InvalidTerms"),
        # amounts are stored in 64 bits: larger terms are refused, never truncated
        ({"deposit": 2**64, "price_per_hour": 2**64}, "AmountTooLarge"),
        ({"deposit": 2**64 - 1, "price_per_hour": 2**64}, "AmountTooLarge"),
    ],
)
def test_open_refuses_bad_terms(sb: Sandbox, kwargs: dict, error: str) -> None:
    terms = sb.terms(**kwargs)
    with sb.reverts(error):
        sb.send(_auth_call(sb, terms), "operator")
    sb.send(sb.token.functions.approve(sb.escrow.address, terms.deposit), "renter")
    with sb.reverts(error):
        sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter")


@pytest.mark.parametrize("provider", ["0x" + "00" * 20, "escrow"])
def test_open_refuses_zero_or_escrow_provider(sb: Sandbox, provider: str) -> None:
    address = sb.escrow.address if provider == "escrow" else provider
    terms = sb.terms(provider=address)
    sb.send(sb.token.functions.approve(sb.escrow.address, terms.deposit), "renter")
    with sb.reverts("InvalidTerms"):
        sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter")


def test_open_refuses_zero_price(sb: Sandbox) -> None:
    terms = sb.terms()
    zero_price = (*terms.as_tuple()[:1], 0, *terms.as_tuple()[2:])
    with sb.reverts("InvalidTerms"):
        sb.send(sb.escrow.functions.open(zero_price), "renter")


def test_open_after_quote_expiry_reverts(sb: Sandbox) -> None:
    terms = sb.terms(expires_in=60)
    call = _auth_call(sb, terms)
    sb.set_next_timestamp(terms.quote_expiry)
    with sb.reverts("QuoteExpired"):
        sb.send(call, "operator")


def test_same_terms_cannot_open_twice(sb: Sandbox) -> None:
    terms = sb.terms()
    sb.open_by_authorization(terms)
    # the EIP-3009 nonce is spent: the identical authorization cannot be replayed
    with sb.reverts("RentalExists"):
        sb.send(_auth_call(sb, terms), "operator")
    sb.send(sb.token.functions.approve(sb.escrow.address, terms.deposit), "renter")
    with sb.reverts("RentalExists"):
        sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter")


def test_copied_terms_get_another_id_for_another_renter(sb: Sandbox) -> None:
    terms = sb.terms()
    sb.send(sb.token.functions.approve(sb.escrow.address, terms.deposit), "renter2")
    sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter2")  # squatting attempt
    rid, _ = sb.open_by_authorization(terms, renter="renter")
    assert rid != sb.rental_id(terms, "renter2")
    assert rental(sb, rid)["renter"] == sb.addr("renter")


def test_open_is_refused_while_paused_and_works_after(sb: Sandbox) -> None:
    sb.send(sb.escrow.functions.setPaused(True), "deployer")
    terms = sb.terms()
    with sb.reverts("NewRentalsPaused"):
        sb.send(_auth_call(sb, terms), "operator")
    sb.send(sb.escrow.functions.setPaused(False), "deployer")
    sb.send(_auth_call(sb, terms), "operator")
    assert rental(sb, sb.rental_id(terms))["status"] == Status.PENDING


def test_signature_by_someone_else_is_rejected(sb: Sandbox) -> None:
    with sb.reverts(sb.token_refusal("signature")):
        sb.send(_auth_call(sb, sb.terms(), renter="renter", signer="renter2"), "operator")


def test_renter_without_funds_cannot_open(sb: Sandbox) -> None:
    with sb.reverts(sb.token_refusal("balance")):
        sb.send(_auth_call(sb, sb.terms(), renter="provider2"), "operator")


def test_rental_ids_are_unique_per_salt(sb: Sandbox) -> None:
    a = open_rental(sb, salt=keccak(text="a"))
    b = open_rental(sb, salt=keccak(text="b"))
    assert a.id != b.id
    assert sb.escrow.functions.totalLocked().call() == a.terms.deposit + b.terms.deposit
