"""Push-then-claimable settlement: blocklisted and paused recipients, claims, fees, surplus."""

from __future__ import annotations

from tests.contracts.helpers import (
    ON_BOTH_TOKENS,
    Status,
    balance,
    open_rental,
    rental,
    settled,
    start_rental,
)
from tests.contracts.sandbox import USDC, Sandbox

pytestmark = ON_BOTH_TOKENS


def _invariant(sb: Sandbox) -> None:
    held = sb.token.functions.balanceOf(sb.escrow.address).call()
    owed = (
        sb.escrow.functions.totalLocked().call()
        + sb.escrow.functions.totalClaimable().call()
        + sb.escrow.functions.feesAccrued().call()
    )
    assert held >= owed


def test_blocklisted_provider_is_parked_and_renter_still_paid(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.block("provider")
    sb.set_next_timestamp(started + 1800)
    renter_before = balance(sb, "renter")
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    net, fee, refund = settled(sb, receipt)
    assert rental(sb, opened.id)["status"] == Status.CLOSED
    assert balance(sb, "renter") == renter_before + refund
    (failed,) = sb.events(receipt, "PushFailed")
    assert (failed["to"], failed["amount"], failed["id"]) == (sb.addr("provider"), net, opened.id)
    assert sb.escrow.functions.claimable(sb.addr("provider")).call() == net
    assert sb.escrow.functions.totalClaimable().call() == net
    _invariant(sb)
    # blocklisted: the claim fails and nothing changes
    with sb.reverts(sb.token_refusal("blocked")):
        sb.send(sb.escrow.functions.claim(), "provider")
    assert sb.escrow.functions.claimable(sb.addr("provider")).call() == net
    sb.unblock("provider")
    receipt = sb.send(sb.escrow.functions.claim(), "provider")
    assert sb.events(receipt, "Claimed")[0]["amount"] == net
    assert balance(sb, "provider") == net
    assert sb.escrow.functions.claimable(sb.addr("provider")).call() == 0
    assert sb.escrow.functions.totalClaimable().call() == 0
    _invariant(sb)


def test_blocklisted_renter_refund_is_parked(sb: Sandbox) -> None:
    opened = open_rental(sb)
    sb.block("renter")
    receipt = sb.send(sb.escrow.functions.cancelPending(opened.id), "provider")
    assert rental(sb, opened.id)["status"] == Status.CLOSED
    assert sb.events(receipt, "PushFailed")[0]["amount"] == opened.terms.deposit
    assert sb.escrow.functions.claimable(sb.addr("renter")).call() == opened.terms.deposit
    _invariant(sb)


def test_paused_token_parks_both_sides_and_claim_for_works_later(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 3600)
    sb.send(sb.escrow.functions.stop(opened.id), "renter")
    sb.pause_token()
    sb.set_next_timestamp(started + 3600 + sb.params.challenge_window)
    receipt = sb.send(sb.escrow.functions.finalize(opened.id), "stranger")
    net, fee, refund = settled(sb, receipt)
    assert {(e["to"], e["amount"]) for e in sb.events(receipt, "PushFailed")} == {
        (sb.addr("provider"), net),
        (sb.addr("renter"), refund),
    }
    assert rental(sb, opened.id)["status"] == Status.CLOSED
    with sb.reverts(sb.token_refusal("paused")):
        sb.send(sb.escrow.functions.claimFor(sb.addr("provider")), "operator")
    with sb.reverts(sb.token_refusal("paused")):
        sb.send(sb.escrow.functions.withdrawFees(), "stranger")
    _invariant(sb)
    sb.unpause_token()
    renter_before = balance(sb, "renter")
    sb.send(sb.escrow.functions.claimFor(sb.addr("provider")), "operator")  # provider needs no gas
    sb.send(sb.escrow.functions.claim(), "renter")
    assert balance(sb, "provider") == net
    assert balance(sb, "renter") == renter_before + refund
    sb.send(sb.escrow.functions.withdrawFees(), "stranger")
    assert balance(sb, "treasury") == fee
    assert sb.token.functions.balanceOf(sb.escrow.address).call() == 0


def test_claim_with_nothing_reverts(sb: Sandbox) -> None:
    with sb.reverts("NothingToClaim"):
        sb.send(sb.escrow.functions.claim(), "provider")
    with sb.reverts("NothingToClaim"):
        sb.send(sb.escrow.functions.claimFor(sb.addr("renter")), "operator")


def test_withdraw_fees_goes_to_treasury_only(sb: Sandbox) -> None:
    with sb.reverts("ZeroAmount"):
        sb.send(sb.escrow.functions.withdrawFees(), "stranger")
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 3600)
    sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    fees = sb.escrow.functions.feesAccrued().call()
    assert fees == 240_000
    receipt = sb.send(sb.escrow.functions.withdrawFees(), "stranger")
    (ev,) = sb.events(receipt, "FeesWithdrawn")
    assert (ev["treasury"], ev["amount"]) == (sb.addr("treasury"), fees)
    assert balance(sb, "treasury") == fees
    assert sb.escrow.functions.feesAccrued().call() == 0


def test_sweep_surplus_only_takes_the_excess(sb: Sandbox) -> None:
    opened = open_rental(sb)
    with sb.reverts("ZeroAmount"):
        sb.send(sb.escrow.functions.sweepSurplus(), "stranger")
    sb.send(sb.token.functions.transfer(sb.escrow.address, 5 * USDC), "stranger")  # by mistake
    receipt = sb.send(sb.escrow.functions.sweepSurplus(), "stranger")
    assert sb.events(receipt, "SurplusSwept")[0]["amount"] == 5 * USDC
    assert balance(sb, "treasury") == 5 * USDC
    assert sb.token.functions.balanceOf(sb.escrow.address).call() == opened.terms.deposit
    with sb.reverts("ZeroAmount"):
        sb.send(sb.escrow.functions.sweepSurplus(), "stranger")
    sb.send(sb.escrow.functions.cancelPending(opened.id), "renter")  # deposit still fully there


def test_zero_amounts_are_not_pushed(sb: Sandbox) -> None:
    opened, started = start_rental(sb)
    sb.set_next_timestamp(started + 10 * 3600)  # the whole deposit is billed: refund 0
    receipt = sb.send(sb.escrow.functions.stopAndSettle(opened.id), "renter")
    assert settled(sb, receipt)[2] == 0
    transfers = sb.events(receipt, "Transfer", sb.token)
    assert [t["to"] for t in transfers] == [sb.addr("provider")]
