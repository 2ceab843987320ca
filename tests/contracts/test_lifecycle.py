"""start, cancelPending, extend, stop, stopAndSettle, finalize and their timeouts."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from contracts.typed_data import split_signature, stop_message
from tests.contracts.helpers import (
    ON_BOTH_TOKENS,
    Status,
    balance,
    block_time,
    open_rental,
    rental,
    settled,
    start_rental,
)
from tests.contracts.sandbox import USDC, Sandbox

pytestmark = ON_BOTH_TOKENS

PRICE = 2 * USDC  # per hour
DEPOSIT = 6 * USDC  # 3 hours


def expected_split(seconds: int, price: int = PRICE, deposit: int = DEPOSIT, fee_bps: int = 1200):
    billed = seconds * price // 3600
    fee = billed * fee_bps // 10_000
    return billed - fee, fee, deposit - billed


# ------------------------------------------------------------------ start


@pytest.mark.parametrize("who", ["provider", "operator"])
def test_start_by_provider_or_operator(sb: Sandbox, who: str) -> None:
    opened = open_rental(sb)
    receipt = sb.send(sb.escrow.functions.start(opened.id), who)
    t = block_time(sb, receipt)
    r = rental(sb, opened.id)
    assert r["status"] == Status.ACTIVE
    assert r["startedAt"] == t
    assert r["paidUntil"] == t + DEPOSIT * 3600 // PRICE
    assert r["deadline"] == r["paidUntil"]
    (ev,) = sb.events(receipt, "RentalStarted")
    assert (ev["startedAt"], ev["paidUntil"]) == (t, r["paidUntil"])


@pytest.mark.parametrize("who", ["renter", "stranger", "arbiter", "deployer", "provider2"])
def test_start_by_anyone_else_reverts(sb: Sandbox, who: str) -> None:
    opened = open_rental(sb)
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.start(opened.id), who)


def test_start_after_accept_timeout_reverts(sb: Sandbox) -> None:
    opened = open_rental(sb)
    sb.set_next_timestamp(opened.opened_at + sb.params.accept_timeout - 1)
    with sb.rolled_back():
        sb.send(sb.escrow.functions.start(opened.id), "provider")  # last second still fine
    sb.set_next_timestamp(opened.opened_at + sb.params.accept_timeout)
    with sb.reverts("TooLate"):
        sb.send(sb.escrow.functions.start(opened.id), "provider")


def test_start_twice_or_unknown_reverts(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.start(opened.id), "provider")
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.start(b"\x01" * 32), "provider")


# ---------------------------------------------------------- cancelPending


@pytest.mark.parametrize("who", ["renter", "operator", "provider"])
def test_cancel_pending_any_time_by_parties(sb: Sandbox, who: str) -> None:
    opened = open_rental(sb)
    before = balance(sb, "renter")
    receipt = sb.send(sb.escrow.functions.cancelPending(opened.id), who)
    assert balance(sb, "renter") == before + DEPOSIT
    assert rental(sb, opened.id)["status"] == Status.CLOSED
    assert settled(sb, receipt) == (0, 0, DEPOSIT)
    assert sb.events(receipt, "RentalCancelled")[0]["by"] == sb.addr(who)
    assert sb.escrow.functions.totalLocked().call() == 0


def test_cancel_pending_by_stranger_only_after_accept_timeout(sb: Sandbox) -> None:
    opened = open_rental(sb)
    deadline = opened.opened_at + sb.params.accept_timeout
    sb.set_next_timestamp(deadline - 1)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.cancelPending(opened.id), "stranger")
    sb.set_next_timestamp(deadline)
    sb.send(sb.escrow.functions.cancelPending(opened.id), "stranger")
    assert rental(sb, opened.id)["status"] == Status.CLOSED


def test_cancel_after_start_reverts(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.cancelPending(opened.id), "renter")


def test_finalize_closes_a_pending_rental_after_accept_timeout(sb: Sandbox) -> None:
    opened = open_rental(sb)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    sb.set_next_timestamp(opened.opened_at + sb.params.accept_timeout)
    before = balance(sb, "renter")
    receipt = sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    assert settled(sb, receipt) == (0, 0, DEPOSIT)
    assert balance(sb, "renter") == before + DEPOSIT


# ------------------------------------------------------------------ extend


def test_extend_by_authorization_recomputes_paid_until_from_total(sb: Sandbox) -> None:
    # 7 USDC/h does not divide evenly: adding rounded pieces would drift
    opened, started = start_rental(sb, price_per_hour=7 * USDC, deposit=7 * USDC)
    sb.advance(100)
    receipt = sb.extend_by_authorization(opened.id, 1_000_001)
    total = 7 * USDC + 1_000_001
    r = rental(sb, opened.id)
    assert r["deposit"] == total
    assert r["paidUntil"] == started + total * 3600 // (7 * USDC)
    (ev,) = sb.events(receipt, "RentalExtended")
    assert (ev["added"], ev["deposit"], ev["paidUntil"]) == (1_000_001, total, r["paidUntil"])
    assert ev["renter"] == sb.addr("renter")
    assert sb.escrow.functions.totalLocked().call() == total


def test_extend_by_transaction(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.send(sb.token.functions.approve(sb.escrow.address, 2 * USDC), "renter")
    sb.send(sb.escrow.functions.extend(opened.id, 2 * USDC), "renter")
    assert rental(sb, opened.id)["paidUntil"] == started + 8 * USDC * 3600 // PRICE


def test_extend_by_transaction_only_by_renter(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    sb.send(sb.token.functions.approve(sb.escrow.address, 2 * USDC), "stranger")
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.extend(opened.id, 2 * USDC), "stranger")


def test_extend_refusals(sb: Sandbox) -> None:
    opened = open_rental(sb)
    sb.send(sb.token.functions.approve(sb.escrow.address, 100 * USDC), "renter")
    with sb.reverts("WrongStatus"):  # still pending
        sb.send(sb.escrow.functions.extend(opened.id, USDC), "renter")
    sb.send(sb.escrow.functions.start(opened.id), "provider")
    with sb.reverts("ZeroAmount"):
        sb.send(sb.escrow.functions.extend(opened.id, 0), "renter")
    paid_until = rental(sb, opened.id)["paidUntil"]
    sb.set_next_timestamp(paid_until)
    with sb.reverts("TooLate"):
        sb.send(sb.escrow.functions.extend(opened.id, USDC), "renter")


def test_extend_beyond_max_prepaid_time_reverts(sb: Sandbox) -> None:
    opened, _ = start_rental(sb, price_per_hour=1000, deposit=USDC)  # 1000 h prepaid
    sb.mint("renter", 10**9)
    sb.send(sb.token.functions.approve(sb.escrow.address, 10**9), "renter")
    with sb.reverts("PrepaidTimeOutOfRange"):
        sb.send(sb.escrow.functions.extend(opened.id, 90 * USDC), "renter")


def test_extend_beyond_the_64_bit_deposit_reverts_and_changes_nothing(sb: Sandbox) -> None:
    big = 2**63  # one hour at 2**63 per hour; a second 2**63 would make the deposit 2**64
    sb.mint("renter", 2 * big)
    opened, _ = start_rental(sb, price_per_hour=big, deposit=big)
    sb.send(sb.token.functions.approve(sb.escrow.address, big), "renter")
    with sb.reverts("AmountTooLarge"):
        sb.send(sb.escrow.functions.extend(opened.id, big), "renter")
    sb.send(sb.escrow.functions.extend(opened.id, big - 1), "renter")  # the largest that fits
    assert rental(sb, opened.id)["deposit"] == 2**64 - 1


def test_extend_is_not_paused(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    sb.send(sb.escrow.functions.setPaused(True), "deployer")
    sb.extend_by_authorization(opened.id, USDC)
    assert rental(sb, opened.id)["deposit"] == DEPOSIT + USDC


# -------------------------------------------------------------------- stop


@pytest.mark.parametrize("who", ["renter", "provider"])
def test_stop_by_a_party_then_finalize_after_window(sb: Sandbox, who: str) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 1234)
    receipt = sb.send(sb.escrow.functions.stop(opened.id), who)
    r = rental(sb, opened.id)
    assert (r["status"], r["endedAt"]) == (Status.ENDED, started + 1234)
    assert r["deadline"] == started + 1234 + sb.params.challenge_window
    (ev,) = sb.events(receipt, "RentalEnded")
    assert (ev["by"], ev["endedAt"]) == (sb.addr(who), started + 1234)
    sb.set_next_timestamp(r["deadline"] - 1)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    renter_before, provider_before = balance(sb, "renter"), balance(sb, "provider")
    sb.set_next_timestamp(r["deadline"])
    receipt = sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    net, fee, refund = expected_split(1234)
    assert settled(sb, receipt) == (net, fee, refund)
    assert balance(sb, "provider") == provider_before + net
    assert balance(sb, "renter") == renter_before + refund
    assert sb.escrow.functions.feesAccrued().call() == fee
    assert rental(sb, opened.id)["status"] == Status.CLOSED


def test_stop_by_stranger_only_after_paid_until(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    paid_until = started + 3 * 3600
    sb.set_next_timestamp(paid_until - 1)
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.stop(opened.id), "stranger")
    sb.set_next_timestamp(paid_until + 500)
    sb.send(sb.escrow.functions.stop(opened.id), "stranger")
    # a late stop records the real end (paidUntil): the window runs from there
    assert rental(sb, opened.id)["endedAt"] == paid_until


def test_stop_refusals(sb: Sandbox) -> None:
    opened = open_rental(sb)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.stop(opened.id), "renter")
    sb.send(sb.escrow.functions.start(opened.id), "provider")
    sb.send(sb.escrow.functions.stop(opened.id), "renter")
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.stop(opened.id), "renter")


def _signed_stop(sb: Sandbox, rid: bytes, settle: bool, deadline: int, signer: str = "renter"):
    typed = stop_message(sb.escrow_domain(), rid, settle, deadline)
    return sb.escrow.functions.stopWithSignature(
        rid, settle, deadline, sb.sign_typed(signer, typed)
    )


def test_stop_with_signature_relayed_by_anyone(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    call = _signed_stop(sb, opened.id, False, started + 3600)
    sb.set_next_timestamp(started + 60)
    receipt = sb.send(call, "stranger")
    assert sb.events(receipt, "RentalEnded")[0]["by"] == sb.addr("renter")
    assert rental(sb, opened.id)["status"] == Status.ENDED


def test_stop_with_signature_and_settle_waives_the_window(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    call = _signed_stop(sb, opened.id, True, started + 3600)
    sb.set_next_timestamp(started + 60)
    receipt = sb.send(call, "operator")
    assert settled(sb, receipt) == expected_split(60)
    assert rental(sb, opened.id)["status"] == Status.CLOSED


def test_stop_signature_refusals(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    with sb.reverts("InvalidSignature"):
        sb.send(_signed_stop(sb, opened.id, False, started + 3600, signer="provider"), "operator")
    expired = _signed_stop(sb, opened.id, False, started + 10)
    sb.set_next_timestamp(started + 11)
    with sb.reverts("SignatureExpired"):
        sb.send(expired, "operator")
    # a signature for one flag cannot be used with the other
    typed = stop_message(sb.escrow_domain(), opened.id, False, started + 3600)
    forged = sb.escrow.functions.stopWithSignature(
        opened.id, True, started + 3600, sb.sign_typed("renter", typed)
    )
    with sb.reverts("InvalidSignature"):
        sb.send(forged, "operator")
    with sb.reverts("InvalidSignature"):  # unknown rental: no renter to check against
        sb.send(_signed_stop(sb, b"\x02" * 32, False, started + 3600), "operator")


def test_stop_signature_with_v_r_s_shape_is_accepted(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    typed = stop_message(sb.escrow_domain(), opened.id, False, started + 3600)
    v, r, s = split_signature(sb.sign_typed("renter", typed))
    assert v in (27, 28)
    sb.send(
        sb.escrow.functions.stopWithSignature(opened.id, False, started + 3600, r + s + bytes([v])),
        "operator",
    )


# ----------------------------------------------------------- stopAndSettle


def test_stop_and_settle_pays_at_once(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 1800)
    renter_before, provider_before = balance(sb, "renter"), balance(sb, "provider")
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    net, fee, refund = expected_split(1800)
    assert settled(sb, receipt) == (net, fee, refund)
    assert (net, fee, refund) == (880_000, 120_000, 5 * USDC)
    assert balance(sb, "provider") == provider_before + net
    assert balance(sb, "renter") == renter_before + refund
    assert sb.events(receipt, "RentalEnded")[0]["endedAt"] == started + 1800


def test_stop_and_settle_from_ended_and_after_expiry(sb: Sandbox) -> None:
    a, started = start_rental(sb, listing=1)
    sb.set_next_timestamp(started + 100)
    sb.send(sb.escrow.functions.stop(a.id), "provider")
    receipt = sb.send(sb.escrow.functions.stopAndSettle(a.id), "renter")
    assert settled(sb, receipt) == expected_split(100)
    b, started = start_rental(sb, listing=2)
    sb.set_next_timestamp(started + 5 * 3600)  # long past paidUntil
    receipt = sb.send(sb.escrow.functions.stopAndSettle(b.id), "renter")
    assert settled(sb, receipt) == (5_280_000, 720_000, 0)


def test_stop_and_settle_refusals(sb: Sandbox) -> None:
    opened = open_rental(sb)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    sb.send(sb.escrow.functions.start(opened.id), "provider")
    for who in ("provider", "operator", "stranger"):
        with sb.reverts("NotAuthorized"):
            sb.send(sb.escrow.functions.stopAndSettle(opened.id), who)
    sb.send(sb.escrow.functions.openDispute(opened.id, keccak(text="x")), "renter")
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")


# ---------------------------------------------------------------- finalize


def test_finalize_expired_active_rental_without_stop(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    paid_until = started + 3 * 3600
    sb.set_next_timestamp(paid_until + sb.params.challenge_window - 1)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    sb.set_next_timestamp(paid_until + sb.params.challenge_window)
    receipt = sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    assert sb.events(receipt, "RentalEnded")[0]["endedAt"] == paid_until
    assert settled(sb, receipt) == (5_280_000, 720_000, 0)


def test_finalize_refusals(sb: Sandbox) -> None:
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.finalize(b"\x03" * 32), "stranger")
    opened, started = start_rental(sb)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")


def test_full_prepaid_use_bills_the_whole_deposit_at_most(sb: Sandbox) -> None:
    # 7 USDC/h with 1 USDC: paidUntil = floor(1e6 * 3600 / 7e6) = 514 s -> bill 999_444 <= deposit
    opened, started = start_rental(sb, price_per_hour=7 * USDC, deposit=USDC + 600_000)
    sb.set_next_timestamp(started + 10**6)
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    net, fee, refund = settled(sb, receipt)
    seconds = (USDC + 600_000) * 3600 // (7 * USDC)
    billed = seconds * 7 * USDC // 3600
    assert net + fee == billed and refund == USDC + 600_000 - billed
    assert refund >= 0 and net + fee + refund == USDC + 600_000


def test_billed_now_view(sb: Sandbox) -> None:
    opened = open_rental(sb)
    assert sb.escrow.functions.billedNow(opened.id).call() == 0
    receipt = sb.send(sb.escrow.functions.start(opened.id), "provider")
    started = block_time(sb, receipt)
    sb.set_next_timestamp(started + 900)
    sb.w3.provider.ethereum_tester.mine_blocks(1)
    assert sb.escrow.functions.billedNow(opened.id).call() == 900 * PRICE // 3600
    sb.set_next_timestamp(started + 10 * 3600)
    sb.w3.provider.ethereum_tester.mine_blocks(1)
    assert sb.escrow.functions.billedNow(opened.id).call() == DEPOSIT
