"""Owner settings: bounds, future-rentals-only effect, two-step ownership, deployment checks."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import Status, open_rental, rental, settled, start_rental
from tests.contracts.sandbox import USDC, EscrowParams, Sandbox


@pytest.mark.parametrize("bps", [1000, 1250, 1500])
def test_fee_bounds_accepted(sb: Sandbox, bps: int) -> None:
    receipt = sb.send(sb.escrow.functions.setFeeBps(bps), "deployer")
    assert sb.escrow.functions.feeBps().call() == bps
    assert sb.events(receipt, "FeeBpsChanged")[0]["feeBps"] == bps


@pytest.mark.parametrize("bps", [0, 999, 1501, 10_000, 65_535])
def test_fee_outside_bounds_rejected(sb: Sandbox, bps: int) -> None:
    with sb.reverts("InvalidSetting"):
        sb.send(sb.escrow.functions.setFeeBps(bps), "deployer")


@pytest.mark.parametrize(
    "call",
    [
        lambda sb: sb.escrow.functions.setFeeBps(1000),
        lambda sb: sb.escrow.functions.setArbiter(sb.addr("stranger")),
        lambda sb: sb.escrow.functions.setTreasury(sb.addr("stranger")),
        lambda sb: sb.escrow.functions.setOperator(sb.addr("stranger")),
        lambda sb: sb.escrow.functions.setMinimums(1, 1),
        lambda sb: sb.escrow.functions.setPaused(True),
    ],
)
@pytest.mark.parametrize("who", ["operator", "arbiter", "stranger", "renter"])
def test_setters_are_owner_only(sb: Sandbox, call, who: str) -> None:
    with sb.reverts("OwnableUnauthorizedAccount"):
        sb.send(call(sb), who)


def test_zero_addresses_and_minimums_rejected(sb: Sandbox) -> None:
    zero = "0x" + "00" * 20
    for call in (
        sb.escrow.functions.setArbiter(zero),
        sb.escrow.functions.setTreasury(zero),
        sb.escrow.functions.setMinimums(0, 600),
        sb.escrow.functions.setMinimums(USDC, 0),
        sb.escrow.functions.setMinimums(USDC, 3650 * 86400 + 1),
    ):
        with sb.reverts("InvalidSetting"):
            sb.send(call, "deployer")


def test_setters_change_new_rentals_only(sb: Sandbox) -> None:
    old, started = start_rental(sb, listing=1)
    sb.send(sb.escrow.functions.setFeeBps(1500), "deployer")
    sb.send(sb.escrow.functions.setArbiter(sb.addr("stranger")), "deployer")
    sb.send(sb.escrow.functions.setMinimums(100 * USDC, 3600), "deployer")
    sb.send(sb.escrow.functions.setTreasury(sb.addr("renter2")), "deployer")
    assert rental(sb, old.id)["feeBps"] == 1200
    assert rental(sb, old.id)["arbiter"] == sb.addr("arbiter")
    # the old rental settles with its own fee
    sb.set_next_timestamp(started + 3600)
    receipt = sb.send(sb.escrow.functions.stopAndSettle(old.id), "renter")
    assert settled(sb, receipt) == (1_760_000, 240_000, 4 * USDC)
    # new minimums apply to new rentals
    with sb.reverts("DepositTooSmall"):
        open_rental(sb, listing=2)
    new = open_rental(sb, listing=3, deposit=100 * USDC, price_per_hour=10 * USDC)
    assert rental(sb, new.id)["feeBps"] == 1500
    assert rental(sb, new.id)["arbiter"] == sb.addr("stranger")
    # fees go to the treasury of the time of withdrawal
    sb.send(sb.escrow.functions.withdrawFees(), "stranger")
    assert sb.token.functions.balanceOf(sb.addr("renter2")).call() == 10_000 * USDC + 240_000


def test_owner_cannot_block_exits(sb: Sandbox) -> None:
    pending = open_rental(sb, listing=1)
    active, started = start_rental(sb, listing=2)
    sb.send(sb.escrow.functions.setPaused(True), "deployer")
    sb.send(sb.escrow.functions.setOperator("0x" + "00" * 20), "deployer")
    sb.send(sb.escrow.functions.renounceOwnership(), "deployer")
    sb.send(sb.escrow.functions.cancelPending(pending.id), "renter")
    sb.set_next_timestamp(started + 60)
    sb.send(sb.escrow.functions.stopAndSettle(active.id), "renter")
    assert rental(sb, pending.id)["status"] == Status.CLOSED
    assert rental(sb, active.id)["status"] == Status.CLOSED


def test_operator_rotation(sb: Sandbox) -> None:
    opened = open_rental(sb)
    receipt = sb.send(sb.escrow.functions.setOperator(sb.addr("stranger")), "deployer")
    assert sb.events(receipt, "OperatorChanged")[0]["operator"] == sb.addr("stranger")
    with sb.reverts("NotAuthorized"):
        sb.send(sb.escrow.functions.start(opened.id), "operator")
    sb.send(sb.escrow.functions.start(opened.id), "stranger")


def test_two_step_ownership(sb: Sandbox) -> None:
    sb.send(sb.escrow.functions.transferOwnership(sb.addr("stranger")), "deployer")
    assert sb.escrow.functions.owner().call() == sb.addr("deployer")
    with sb.reverts("OwnableUnauthorizedAccount"):
        sb.send(sb.escrow.functions.acceptOwnership(), "renter")
    sb.send(sb.escrow.functions.acceptOwnership(), "stranger")
    assert sb.escrow.functions.owner().call() == sb.addr("stranger")
    sb.send(sb.escrow.functions.setFeeBps(1300), "stranger")


def test_views_of_initial_configuration(sb: Sandbox) -> None:
    f = sb.escrow.functions
    assert f.token().call() == sb.token.address
    assert f.feeBps().call() == 1200
    assert f.arbiter().call() == sb.addr("arbiter")
    assert f.treasury().call() == sb.addr("treasury")
    assert f.operator().call() == sb.addr("operator")
    assert f.minDeposit().call() == USDC
    assert f.minPrepaidSeconds().call() == 600
    assert f.paused().call() is False
    assert f.ACCEPT_TIMEOUT().call() == sb.params.accept_timeout
    assert f.CHALLENGE_WINDOW().call() == sb.params.challenge_window
    assert f.ARBITER_TIMEOUT().call() == sb.params.arbiter_timeout
    assert (f.MIN_FEE_BPS().call(), f.MAX_FEE_BPS().call()) == (1000, 1500)
    assert f.arbiterOf(b"\x00" * 32).call() == "0x" + "00" * 20
    assert rental(sb, b"\x00" * 32)["status"] == Status.NONE


@pytest.mark.parametrize(
    "params",
    [
        EscrowParams(fee_bps=999),
        EscrowParams(fee_bps=1501),
        EscrowParams(accept_timeout=0),
        EscrowParams(accept_timeout=7 * 86400 + 1),
        EscrowParams(challenge_window=0),
        EscrowParams(challenge_window=30 * 86400 + 1),
        EscrowParams(arbiter_timeout=0),
        EscrowParams(arbiter_timeout=90 * 86400 + 1),
        EscrowParams(min_deposit=0),
    ],
)
def test_constructor_rejects_bad_parameters(sb: Sandbox, params: EscrowParams) -> None:
    with sb.reverts("InvalidSetting"):
        sb.deploy_escrow(sb.token.address, params)


def test_constructor_rejects_wrong_token(sb: Sandbox) -> None:
    wallet = sb.deploy("MockContractWallet", sb.addr("renter"))
    with pytest.raises(Exception):  # noqa: B017 - decimals() does not exist: a bare revert
        sb.deploy_escrow(wallet.address, EscrowParams())
    with sb.reverts("InvalidSetting"):
        sb.deploy_escrow(sb.addr("stranger"), EscrowParams())  # no code
