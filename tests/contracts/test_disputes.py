"""openDispute (transaction and signature), the bounded arbiter, and the arbiter timeout."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from contracts.typed_data import dispute_message
from tests.contracts.helpers import (
    ON_BOTH_TOKENS,
    Status,
    balance,
    block_time,
    rental,
    settled,
    start_rental,
)
from tests.contracts.sandbox import USDC, Sandbox

pytestmark = ON_BOTH_TOKENS

EVIDENCE = keccak(text="agent heartbeats 12:00-12:30 missing")


@pytest.mark.parametrize("who", ["renter", "provider"])
def test_dispute_while_active_ends_the_rental(sb: Sandbox, who: str) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 600)
    receipt = sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), who)
    r = rental(sb, opened.id)
    assert (r["status"], r["endedAt"], r["disputedAt"]) == (
        Status.DISPUTED,
        started + 600,
        started + 600,
    )
    assert r["deadline"] == started + 600 + sb.params.arbiter_timeout
    (ev,) = sb.events(receipt, "DisputeOpened")
    assert (ev["by"], ev["evidenceHash"]) == (sb.addr(who), EVIDENCE)
    assert sb.events(receipt, "RentalEnded")[0]["endedAt"] == started + 600


def test_dispute_inside_window_after_stop(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 600)
    sb.send(sb.escrow.functions.stop(opened.id), "renter")
    sb.set_next_timestamp(started + 600 + sb.params.challenge_window - 1)
    receipt = sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")
    assert sb.events(receipt, "RentalEnded") == []
    assert rental(sb, opened.id)["endedAt"] == started + 600


def test_dispute_after_window_reverts(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 600)
    sb.send(sb.escrow.functions.stop(opened.id), "renter")
    sb.set_next_timestamp(started + 600 + sb.params.challenge_window)
    with sb.reverts("TooLate"):
        sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")


def test_dispute_on_expired_active_rental_inside_and_after_window(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    paid_until = started + 3 * 3600
    with sb.rolled_back():
        sb.set_next_timestamp(paid_until + 10)
        receipt = sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")
        assert sb.events(receipt, "RentalEnded")[0]["endedAt"] == paid_until
    sb.set_next_timestamp(paid_until + sb.params.challenge_window)
    with sb.reverts("TooLate"):
        sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")


def test_dispute_refusals(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    for who in ("stranger", "operator", "arbiter"):
        with sb.reverts("NotAuthorized"):
            sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), who)
    sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "provider")


def test_dispute_on_pending_reverts(sb: Sandbox) -> None:
    terms = sb.terms()
    rid, _ = sb.open_by_authorization(terms)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.openDispute(rid, EVIDENCE), "renter")


def _signed_dispute(sb: Sandbox, rid: bytes, by: str, deadline: int, signer: str | None = None):
    typed = dispute_message(sb.escrow_domain(), rid, EVIDENCE, deadline)
    sig = sb.sign_typed(signer or by, typed)
    return sb.escrow.functions.openDisputeWithSignature(rid, EVIDENCE, sb.addr(by), deadline, sig)


@pytest.mark.parametrize("who", ["renter", "provider"])
def test_dispute_with_signature(sb: Sandbox, who: str) -> None:
    opened, started = start_rental(sb)
    receipt = sb.send(_signed_dispute(sb, opened.id, who, started + 3600), "operator")
    assert sb.events(receipt, "DisputeOpened")[0]["by"] == sb.addr(who)


def test_dispute_signature_refusals(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    with sb.reverts("NotAuthorized"):  # a stranger's own signature
        sb.send(_signed_dispute(sb, opened.id, "stranger", started + 3600), "operator")
    with sb.reverts("InvalidSignature"):  # claims to be the renter, signed by someone else
        sb.send(
            _signed_dispute(sb, opened.id, "renter", started + 3600, signer="stranger"), "operator"
        )
    call = _signed_dispute(sb, opened.id, "renter", started + 5)
    sb.set_next_timestamp(started + 6)
    with sb.reverts("SignatureExpired"):
        sb.send(call, "operator")
    zero = sb.escrow.functions.openDisputeWithSignature(
        opened.id, EVIDENCE, "0x" + "00" * 20, started + 3600, b"\x00" * 65
    )
    with sb.reverts("NotAuthorized"):
        sb.send(zero, "operator")


def _disputed(sb: Sandbox, seconds: int = 3600):
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + seconds)
    receipt = sb.send(sb.escrow.functions.openDispute(opened.id, EVIDENCE), "renter")
    return opened, block_time(sb, receipt)


@pytest.mark.parametrize(
    ("gross", "split"),
    [
        (0, (0, 0, 6 * USDC)),  # renter wins entirely
        (2 * USDC, (1_760_000, 240_000, 4 * USDC)),  # provider gets the full time bill
        (1_234_567, (1_086_419, 148_148, 6 * USDC - 1_234_567)),  # any split in between
    ],
)
def test_arbiter_resolves_within_the_bill(sb: Sandbox, gross: int, split: tuple) -> None:
    opened, _ = _disputed(sb)  # billed: 1 h at 2 USDC/h = 2 USDC
    renter_before, provider_before = balance(sb, "renter"), balance(sb, "provider")
    receipt = sb.send(sb.escrow.functions.resolve(opened.id, gross), "arbiter")
    assert settled(sb, receipt) == split
    (ev,) = sb.events(receipt, "DisputeResolved")
    assert (ev["arbiter"], ev["providerGross"]) == (sb.addr("arbiter"), gross)
    assert balance(sb, "provider") == provider_before + split[0]
    assert balance(sb, "renter") == renter_before + split[2]
    assert rental(sb, opened.id)["status"] == Status.CLOSED


def test_arbiter_cannot_award_more_than_billed(sb: Sandbox) -> None:
    opened, _ = _disputed(sb)
    with sb.reverts("AwardTooHigh"):
        sb.send(sb.escrow.functions.resolve(opened.id, 2 * USDC + 1), "arbiter")


@pytest.mark.parametrize("who", ["deployer", "operator", "renter", "provider", "stranger"])
def test_only_the_rentals_arbiter_resolves(sb: Sandbox, who: str) -> None:
    opened, _ = _disputed(sb)
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.resolve(opened.id, 0), who)


def test_resolve_outside_disputed_reverts(sb: Sandbox) -> None:
    opened, _ = start_rental(sb)
    with sb.reverts("WrongStatus"):
        sb.send(sb.escrow.functions.resolve(opened.id, 0), "arbiter")


def test_arbiter_timeout_falls_back_to_the_time_bill(sb: Sandbox) -> None:
    opened, disputed_at = _disputed(sb)
    deadline = disputed_at + sb.params.arbiter_timeout
    sb.set_next_timestamp(deadline - 1)
    with sb.reverts("TooEarly"):
        sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    sb.set_next_timestamp(deadline)
    with sb.reverts("TooLate"):
        sb.send(sb.escrow.functions.resolve(opened.id, 0), "arbiter")
    receipt = sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    assert settled(sb, receipt) == (1_760_000, 240_000, 4 * USDC)
    assert len(sb.events(receipt, "DisputeTimedOut")) == 1


def test_arbiter_is_snapshotted_at_open(sb: Sandbox) -> None:
    opened, _ = _disputed(sb)
    sb.send(sb.escrow.functions.setArbiter(sb.addr("stranger")), "deployer")
    assert sb.escrow.functions.arbiterOf(opened.id).call() == sb.addr("arbiter")
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.resolve(opened.id, 0), "stranger")
    sb.send(sb.escrow.functions.resolve(opened.id, 0), "arbiter")
