"""Replay, relayer tampering, re-entrancy, fee-on-transfer, contract wallets, the exposed surface."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak

from contracts.typed_data import (
    Eip712Domain,
    RentalTerms,
    dispute_message,
    escrow_domain,
    extend_authorization,
    open_authorization,
    split_signature,
    stop_message,
)
from tests.contracts.helpers import Status, balance, rental, settled, start_rental
from tests.contracts.sandbox import USDC, EscrowParams, Sandbox

OTHER_CHAIN = 137


def _signed_open(sb: Sandbox, terms: RentalTerms, escrow_address: str, domain: Eip712Domain):
    typed = open_authorization(terms, sb.addr("renter"), domain, escrow_address)
    return split_signature(sb.sign_typed("renter", typed))


# ------------------------------------------------------------ relayer tampering


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "provider2"},
        {"price_per_hour": 1 * USDC},
        {"deposit": 5 * USDC},
        {"listing_id": (7).to_bytes(32, "big")},
        {"quote_expiry": +60},
        {"salt": keccak(text="other")},
    ],
)
def test_relayer_cannot_change_any_term(sb: Sandbox, change: dict) -> None:
    terms = sb.terms()
    v, r, s = _signed_open(sb, terms, sb.escrow.address, sb.token_domain())
    key, value = next(iter(change.items()))
    if key == "provider":
        value = sb.addr(value)
    if key == "quote_expiry":
        value = terms.quote_expiry + value
    tampered = dataclasses.replace(terms, **{key: value})
    call = sb.escrow.functions.openWithAuthorization(
        tampered.as_tuple(), sb.addr("renter"), v, r, s
    )
    with sb.reverts("ERC3009InvalidSignature"):
        sb.send(call, "operator")
    # the untouched authorization still works afterwards
    call = sb.escrow.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter"), v, r, s)
    sb.send(call, "operator")


def test_relayer_cannot_change_the_payer(sb: Sandbox) -> None:
    terms = sb.terms()
    v, r, s = _signed_open(sb, terms, sb.escrow.address, sb.token_domain())
    call = sb.escrow.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter2"), v, r, s)
    with sb.reverts("ERC3009InvalidSignature"):
        sb.send(call, "operator")


def test_relayer_cannot_change_an_extension(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    salt, valid_before = keccak(text="ext"), started + 600
    typed = extend_authorization(
        opened.id,
        USDC,
        salt,
        valid_before,
        sb.addr("renter"),
        sb.token_domain(),
        sb.escrow.address,
    )
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    f = sb.escrow.functions.extendWithAuthorization
    for args in (
        (opened.id, 2 * USDC, valid_before, salt),
        (opened.id, USDC, valid_before + 1, salt),
        (opened.id, USDC, valid_before, keccak(text="x")),
    ):
        with sb.reverts("ERC3009InvalidSignature"):
            sb.send(f(*args, v, r, s), "operator")
    sb.send(f(opened.id, USDC, valid_before, salt, v, r, s), "operator")
    with sb.reverts("ERC3009UsedAuthorization"):  # and it cannot be replayed
        sb.send(f(opened.id, USDC, valid_before, salt, v, r, s), "operator")
    sb.set_next_timestamp(valid_before)
    with sb.reverts("ERC3009InvalidAuthorizationTime"):
        other_salt = keccak(text="late")
        typed = extend_authorization(
            opened.id,
            USDC,
            other_salt,
            valid_before,
            sb.addr("renter"),
            sb.token_domain(),
            sb.escrow.address,
        )
        v, r, s = split_signature(sb.sign_typed("renter", typed))
        sb.send(f(opened.id, USDC, valid_before, other_salt, v, r, s), "operator")


# ------------------------------------------------------------------- replay


def test_extension_cannot_be_replayed_on_another_rental(sb: Sandbox) -> None:
    a, started = start_rental(sb, listing=1)
    b, _ = start_rental(sb, listing=2)
    salt, valid_before = keccak(text="e"), started + 600
    typed = extend_authorization(
        a.id, USDC, salt, valid_before, sb.addr("renter"), sb.token_domain(), sb.escrow.address
    )
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    with sb.reverts("ERC3009InvalidSignature"):
        sb.send(
            sb.escrow.functions.extendWithAuthorization(b.id, USDC, valid_before, salt, v, r, s),
            "operator",
        )


def test_stop_signature_cannot_be_replayed_on_another_rental(sb: Sandbox) -> None:
    a, started = start_rental(sb, listing=1)
    b, _ = start_rental(sb, listing=2)
    sig = sb.sign_typed("renter", stop_message(sb.escrow_domain(), a.id, False, started + 600))
    with sb.reverts("InvalidSignature"):
        sb.send(sb.escrow.functions.stopWithSignature(b.id, False, started + 600, sig), "operator")


def test_open_signature_for_another_chain_is_rejected(sb: Sandbox) -> None:
    terms = sb.terms()
    foreign = dataclasses.replace(sb.token_domain(), chain_id=OTHER_CHAIN)
    v, r, s = _signed_open(sb, terms, sb.escrow.address, foreign)
    call = sb.escrow.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter"), v, r, s)
    with sb.reverts("ERC3009InvalidSignature"):
        sb.send(call, "operator")


def test_stop_and_dispute_signatures_for_another_chain_are_rejected(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    foreign = escrow_domain(OTHER_CHAIN, sb.escrow.address)
    sig = sb.sign_typed("renter", stop_message(foreign, opened.id, False, started + 600))
    with sb.reverts("InvalidSignature"):
        sb.send(
            sb.escrow.functions.stopWithSignature(opened.id, False, started + 600, sig), "operator"
        )
    evidence = keccak(text="e")
    sig = sb.sign_typed("renter", dispute_message(foreign, opened.id, evidence, started + 600))
    call = sb.escrow.functions.openDisputeWithSignature(
        opened.id, evidence, sb.addr("renter"), started + 600, sig
    )
    with sb.reverts("InvalidSignature"):
        sb.send(call, "operator")


def test_signatures_cannot_be_replayed_on_another_escrow(sb: Sandbox) -> None:
    other = sb.deploy_escrow(sb.token.address, EscrowParams())
    terms = sb.terms()
    v, r, s = _signed_open(sb, terms, sb.escrow.address, sb.token_domain())
    call = other.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter"), v, r, s)
    with sb.reverts("ERC3009InvalidSignature", sb.token):
        sb.send(call, "operator")
    # the same renter opens the same terms on the other escrow with its own signature
    v2, r2, s2 = _signed_open(sb, terms, other.address, sb.token_domain())
    sb.send(
        other.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter"), v2, r2, s2),
        "operator",
    )
    sb.send(
        sb.escrow.functions.openWithAuthorization(terms.as_tuple(), sb.addr("renter"), v, r, s),
        "operator",
    )
    rid_here, rid_there = sb.rental_id(terms), sb.rental_id(terms, escrow=other)
    assert rid_here != rid_there
    sb.send(sb.escrow.functions.start(rid_here), "provider")
    sb.send(other.functions.start(rid_there), "provider")
    now = sb.next_timestamp()
    sig = sb.sign_typed("renter", stop_message(sb.escrow_domain(), rid_here, True, now + 600))
    with sb.reverts("InvalidSignature", other):
        sb.send(other.functions.stopWithSignature(rid_here, True, now + 600, sig), "operator")


# -------------------------------------------------------------- re-entrancy


@pytest.fixture
def hostile(sb: Sandbox):
    token = sb.deploy("ReentrantToken")
    escrow = sb.deploy_escrow(token.address, sb.params)
    for who in ("renter", "provider"):
        sb.send(token.functions.mint(sb.addr(who), 1_000 * USDC), "deployer")
    sb.send(token.functions.approve(escrow.address, 10**30), "renter")
    return token, escrow


def _open_hostile(sb: Sandbox, escrow, listing: int = 1) -> tuple[bytes, RentalTerms]:
    terms = sb.terms(listing=listing)
    sb.send(escrow.functions.open(terms.as_tuple()), "renter")
    return sb.rental_id(terms, escrow=escrow), terms


def _reentrancy_selector(sb: Sandbox) -> bytes:
    return keccak(text="Reentrancy()")[:4]


@pytest.mark.parametrize("reenter", ["finalize", "stopAndSettle", "cancelPending", "claim", "fees"])
def test_reentrant_token_cannot_reenter_settlement(sb: Sandbox, hostile, reenter: str) -> None:
    token, escrow = hostile
    rid, terms = _open_hostile(sb, escrow)
    start_receipt = sb.send(escrow.functions.start(rid), "provider")
    started = sb.w3.eth.get_block(start_receipt["blockNumber"])["timestamp"]
    data = {
        "finalize": escrow.encode_abi("finalize", [rid]),
        "stopAndSettle": escrow.encode_abi("stopAndSettle", [rid]),
        "cancelPending": escrow.encode_abi("cancelPending", [rid]),
        "claim": escrow.encode_abi("claim", []),
        "fees": escrow.encode_abi("withdrawFees", []),
    }[reenter]
    sb.send(token.functions.arm(escrow.address, data), "stranger")
    sb.set_next_timestamp(started + 1800)
    receipt = sb.send(escrow.functions.stopAndSettle(rid), "renter")
    assert token.functions.hookCalled().call() is True
    assert token.functions.hookSucceeded().call() is False
    assert bytes(token.functions.hookResult().call())[:4] == _reentrancy_selector(sb)
    # settled exactly once, books balanced
    assert settled(sb, receipt) == (880_000, 120_000, 5 * USDC)
    assert token.functions.balanceOf(escrow.address).call() == 120_000
    assert escrow.functions.feesAccrued().call() == 120_000
    assert escrow.functions.totalLocked().call() == 0


def test_reentrant_token_cannot_reenter_open(sb: Sandbox, hostile) -> None:
    token, escrow = hostile
    terms = sb.terms(listing=9)
    rid = sb.rental_id(terms, escrow=escrow)
    sb.send(
        token.functions.arm(escrow.address, escrow.encode_abi("cancelPending", [rid])), "stranger"
    )
    sb.send(escrow.functions.open(terms.as_tuple()), "renter")
    assert bytes(token.functions.hookResult().call())[:4] == _reentrancy_selector(sb)
    assert sb.escrow.functions.getRental(rid).call()[0] == Status.NONE  # other escrow untouched
    assert escrow.functions.getRental(rid).call()[0] == Status.PENDING


def test_unguarded_calls_during_a_push_see_the_closed_status(sb: Sandbox, hostile) -> None:
    token, escrow = hostile
    rid, _ = _open_hostile(sb, escrow)
    sb.send(escrow.functions.start(rid), "provider")
    # the hook tries a state change that needs an open rental: status is already Closed
    sb.send(token.functions.arm(escrow.address, escrow.encode_abi("stop", [rid])), "stranger")
    sb.send(escrow.functions.stopAndSettle(rid), "renter")
    result = bytes(token.functions.hookResult().call())
    assert result[:4] == keccak(text="WrongStatus(uint8)")[:4]
    assert int.from_bytes(result[4:36], "big") == Status.CLOSED


# ------------------------------------------------------------ fee on transfer


def test_fee_on_transfer_token_is_rejected(sb: Sandbox) -> None:
    token = sb.deploy("FeeOnTransferToken")
    escrow = sb.deploy_escrow(token.address, sb.params)
    sb.send(token.functions.mint(sb.addr("renter"), 100 * USDC), "stranger")
    sb.send(token.functions.approve(escrow.address, 10**30), "renter")
    terms = sb.terms()
    with sb.reverts("DepositShortfall", escrow):
        sb.send(escrow.functions.open(terms.as_tuple()), "renter")
    assert token.functions.balanceOf(escrow.address).call() == 0


def test_fee_on_transfer_extension_is_rejected(sb: Sandbox) -> None:
    token = sb.deploy("FeeOnTransferToken")
    escrow = sb.deploy_escrow(token.address, sb.params)
    sb.send(token.functions.mint(sb.addr("renter"), 100 * USDC), "stranger")
    sb.send(token.functions.approve(escrow.address, 10**30), "renter")
    sb.send(token.functions.setFeeBps(0), "stranger")  # the fee starts after the open
    terms = sb.terms()
    sb.send(escrow.functions.open(terms.as_tuple()), "renter")
    rid = sb.rental_id(terms, escrow=escrow)
    sb.send(escrow.functions.start(rid), "provider")
    sb.send(token.functions.setFeeBps(100), "stranger")
    with sb.reverts("DepositShortfall", escrow):
        sb.send(escrow.functions.extend(rid, USDC), "renter")
    assert escrow.functions.getRental(rid).call()[4] == terms.deposit


# ------------------------------------------------------------- contract wallet


def _wallet_opens(sb: Sandbox, wallet, listing: int) -> bytes:
    """The contract wallet (owned by renter2) approves the deposit and opens a rental."""
    terms = sb.terms(listing=listing)
    approve = sb.token.encode_abi("approve", [sb.escrow.address, terms.deposit])
    sb.send(wallet.functions.execute(sb.token.address, approve), "renter2")
    open_call = sb.escrow.encode_abi("open", [terms.as_tuple()])
    sb.send(wallet.functions.execute(sb.escrow.address, open_call), "renter2")
    return sb.rental_id(terms, wallet.address)


def test_contract_wallet_renter_signs_stop_and_dispute_with_erc1271(sb: Sandbox) -> None:
    wallet = sb.deploy("MockContractWallet", sb.addr("renter2"))
    sb.send(sb.token.functions.transfer(wallet.address, 50 * USDC), "renter2")
    rid = _wallet_opens(sb, wallet, listing=1)
    assert rental(sb, rid)["renter"] == wallet.address
    sb.send(sb.escrow.functions.start(rid), "provider")
    deadline = sb.next_timestamp() + 600
    evidence = keccak(text="gpu throttled")
    sig = sb.sign_typed("renter2", dispute_message(sb.escrow_domain(), rid, evidence, deadline))
    sb.send(
        sb.escrow.functions.openDisputeWithSignature(rid, evidence, wallet.address, deadline, sig),
        "operator",
    )
    assert rental(sb, rid)["status"] == Status.DISPUTED
    # a key that does not own the wallet is refused
    rid2 = _wallet_opens(sb, wallet, listing=2)
    sb.send(sb.escrow.functions.start(rid2), "provider")
    bad = sb.sign_typed("stranger", stop_message(sb.escrow_domain(), rid2, True, deadline))
    with sb.reverts("InvalidSignature"):
        sb.send(sb.escrow.functions.stopWithSignature(rid2, True, deadline, bad), "operator")
    good = sb.sign_typed("renter2", stop_message(sb.escrow_domain(), rid2, True, deadline))
    before = sb.token.functions.balanceOf(wallet.address).call()
    receipt = sb.send(sb.escrow.functions.stopWithSignature(rid2, True, deadline, good), "operator")
    assert sb.token.functions.balanceOf(wallet.address).call() == before + settled(sb, receipt)[2]


# ------------------------------------------------------------- exposed surface


def test_state_changing_surface_is_exactly_the_specified_one(sb: Sandbox) -> None:
    writable = {
        item["name"]
        for item in sb.escrow.abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }
    assert writable == {
        # rentals
        "open",
        "openWithPermit",
        "openWithAuthorization",
        "start",
        "cancelPending",
        "extend",
        "extendWithAuthorization",
        "stop",
        "stopWithSignature",
        "stopAndSettle",
        "openDispute",
        "openDisputeWithSignature",
        "resolve",
        "finalize",
        # money out (fixed recipients)
        "claim",
        "claimFor",
        "withdrawFees",
        "sweepSurplus",
        # owner: future rentals only
        "setFeeBps",
        "setArbiter",
        "setTreasury",
        "setOperator",
        "setMinimums",
        "setPaused",
        "transferOwnership",
        "acceptOwnership",
        "renounceOwnership",
    }
    assert not any(item["type"] in ("fallback", "receive") for item in sb.escrow.abi)


def test_owner_has_no_power_over_a_running_rental(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    for call in (
        sb.escrow.functions.stop(opened.id),
        sb.escrow.functions.stopAndSettle(opened.id),
        sb.escrow.functions.openDispute(opened.id, b"\x00" * 32),
        sb.escrow.functions.claimFor(sb.addr("deployer")),
    ):
        with pytest.raises(Exception):  # noqa: B017 - NotAuthorized / NothingToClaim
            sb.send(call, "deployer")
    sb.set_next_timestamp(started + 600)
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    assert settled(sb, receipt) == (293_334, 39_999, 6 * USDC - 333_333)
    assert balance(sb, "deployer") == 0
