"""Domain rules: money formatting, billing math, lifecycle, reliability (stdlib only)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import billing
from core.domain.errors import IllegalTransition
from core.domain.listings import quote_score
from core.domain.money import (
    MoneyFormatError,
    format_decimal,
    format_price_per_hour,
    format_usd,
    format_usdc,
    parse_usdc,
    places_for,
)
from core.domain.reliability import (
    NEW_HOST_SCORE,
    ReliabilityInputs,
    format_bps_percent,
    reliability_score,
    response_bps,
    response_seconds,
)
from core.domain.rentals import TERMINAL, TRANSITIONS, RentalState, check_transition

# -- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "usdc", "usd"),
    [
        (650_000, "0.65 USDC", "$0.65"),
        (12_345_678, "12.345678 USDC", "$12.345678"),
        (0, "0.00 USDC", "$0.00"),
        (1, "0.000001 USDC", "$0.000001"),
        (-1_500_000, "-1.50 USDC", "-$1.50"),
        (1_234_500_000, "1,234.50 USDC", "$1,234.50"),
    ],
)
def test_money_formats_exactly(amount, usdc, usd):
    assert format_usdc(amount) == usdc
    assert format_usd(amount) == usd


def test_amounts_shown_together_share_their_decimals_and_are_never_rounded():
    # the one precision rule (core.domain.money): at least cents, as many as any needs
    assert places_for(220_000, 370_500) == 4
    assert format_usd(220_000, places_for(220_000, 370_500)) == "$0.2200"
    assert places_for(650_000, 1_950_000) == 2
    assert format_usdc(370_500, 2) == "0.3705 USDC"  # too few places asked: nothing is lost


def test_price_per_hour_and_no_floats():
    assert format_price_per_hour(650_000) == "$0.65/h"
    with pytest.raises(TypeError):
        format_usdc(0.65)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.65", 650_000),
        ("$0.65", 650_000),
        ("0,65", 650_000),
        ("12 USDC", 12_000_000),
        ("1.234567", 1_234_567),
        ("2$", 2_000_000),
    ],
)
def test_parse_usdc(text, value):
    assert parse_usdc(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1.2345678", "-1", "1e3", "0x10", "９"])
def test_parse_usdc_rejects(text):
    with pytest.raises(MoneyFormatError):
        parse_usdc(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_format_parse_round_trip(amount):
    # what a user reads back as a command argument (no digit grouping there)
    assert parse_usdc(format_decimal(amount, group="")) == amount


# -- billing ---------------------------------------------------------------------------------


def test_billing_examples():
    assert billing.billed(3617, 650_000) == 653_069
    assert billing.platform_fee(653_069, 1200) == 78_368
    assert billing.refund(1_950_000, 653_069) == 1_296_931
    assert billing.paid_seconds(1_950_000, 650_000) == 10_800
    assert billing.deposit_for(10_800, 650_000) == 1_950_000
    assert billing.deposit_for(1, 650_000) == 181  # rounds up: 180.55...


@pytest.mark.parametrize("bps", [999, 1501, 0])
def test_fee_outside_bounds_rejected(bps):
    with pytest.raises(ValueError, match="outside"):
        billing.platform_fee(1_000_000, bps)


def test_settle_caps_at_paid_until_and_checks_arbiter_bound():
    s = billing.settle(
        deposit=650_000,
        price_per_hour=650_000,
        fee_bps=1000,
        started_at=100,
        ended_at=100 + 7200,
        paid_until=100 + 3600,
    )
    assert (s.billed, s.refund, s.seconds_billed) == (650_000, 0, 3600)
    with pytest.raises(ValueError, match="exceeds"):
        billing.settle(
            deposit=650_000,
            price_per_hour=650_000,
            fee_bps=1000,
            started_at=0,
            ended_at=60,
            paid_until=3600,
            provider_gross=10**6,
        )


@given(
    deposit=st.integers(min_value=1, max_value=10**12),
    price=st.integers(min_value=1, max_value=10**9),
    fee_bps=st.integers(min_value=1000, max_value=1500),
    used=st.integers(min_value=0, max_value=10**8),
    award_pct=st.none() | st.integers(min_value=0, max_value=100),
)
def test_settlement_conserves_money(deposit, price, fee_bps, used, award_pct):
    paid = billing.paid_seconds(deposit, price)
    full = billing.billed(min(used, paid), price)
    award = None if award_pct is None else full * award_pct // 100
    s = billing.settle(
        deposit=deposit,
        price_per_hour=price,
        fee_bps=fee_bps,
        started_at=0,
        ended_at=used,
        paid_until=paid,
        provider_gross=award,
    )
    assert s.conserves()
    assert s.billed <= deposit and s.fee <= s.billed
    assert all(isinstance(v, int) for v in (s.billed, s.fee, s.provider_net, s.refund))


# -- lifecycle -------------------------------------------------------------------------------

HAPPY = ["quoted", "awaiting_payment", "funded", "provisioning", "active", "ended", "settled"]


def test_happy_path_is_legal():
    for cur, nxt in zip(HAPPY, HAPPY[1:], strict=False):
        assert check_transition(cur, nxt) == RentalState(nxt)


@pytest.mark.parametrize(
    ("cur", "nxt"),
    [
        ("quoted", "active"),
        ("settled", "active"),
        ("cancelled", "funded"),
        ("active", "awaiting_payment"),
        ("ended", "active"),
        ("resolved", "disputed"),
        ("awaiting_payment", "settled"),
    ],
)
def test_illegal_transitions_raise(cur, nxt):
    with pytest.raises(IllegalTransition, match="can't become"):
        check_transition(cur, nxt)


def test_terminal_states_have_no_exit_and_every_state_reaches_one():
    assert TERMINAL == {RentalState.SETTLED, RentalState.CANCELLED, RentalState.RESOLVED}
    for state in RentalState:
        seen, todo = set(), [state]
        while todo:
            s = todo.pop()
            seen.add(s)
            todo += [n for n in TRANSITIONS[s] if n not in seen]
        assert seen & TERMINAL, state


# -- reliability -----------------------------------------------------------------------------


def test_new_host_gets_documented_default():
    inp = ReliabilityInputs(3600, 3600, 0, 0, 0, 0)
    assert reliability_score(inp) == NEW_HOST_SCORE == 8000


def test_reliability_weights():
    perfect = ReliabilityInputs(30 * 86400, 30 * 86400, 50, 0, 250, 50, 50, 50 * 20)
    assert reliability_score(perfect) == 10_000
    flaky = ReliabilityInputs(30 * 86400, 15 * 86400, 50, 0, 250, 50, 50, 50 * 20)
    assert reliability_score(flaky) == reliability_score(perfect) - 2_250
    cheater = ReliabilityInputs(30 * 86400, 30 * 86400, 10, 5, 50, 50)
    # uptime 100 %, rating 1/5 -> 0, track 12 / (12 + 4*5) -> 3750, no response data -> 8000
    assert reliability_score(cheater) == (10_000 * 45 + 0 + 3_750 * 20 + 8_000 * 15) // 100
    assert reliability_score(cheater) == 6_450


def test_response_time_component():
    assert response_bps(0, 0) == 8_000  # no funded rental yet
    assert response_bps(3, 3 * 60) == 10_000  # within a minute: full marks
    assert response_bps(1, 330) == 5_000  # halfway between 60 s and 600 s
    assert response_bps(2, 2 * 600) == 0
    assert response_seconds(1000, 1012) == 12
    assert response_seconds(1000, None) == 600  # never provisioned counts as the worst
    assert response_seconds(1000, 99_999) == 600
    slow = ReliabilityInputs(30 * 86400, 30 * 86400, 50, 0, 250, 50, 4, 4 * 600)
    assert reliability_score(slow) == 10_000 - 1_500


def test_effective_price_prefers_reliable_host():
    assert quote_score(600_000, 10_000) < quote_score(500_000, 7_000)
    assert quote_score(500_000, 10_000) < quote_score(600_000, 10_000)
    assert format_bps_percent(9_876) == "98.8%"


def _rental(**times):
    from core.domain.model import Rental

    return Rental(
        renter_id=1, listing_id=1, provider_id=1, machine_id=1, gpu_model="rtx4090",
        gpu_count=1, price_per_hour=1, duration_s=3600, deposit=1, fee_bps=1200,
        created_at=0, quote_expires_at=0, **times,
    )  # fmt: skip


def test_billable_seconds_end_at_what_the_deposit_paid_for():
    assert _rental().billable_seconds(500) == 0  # never started
    assert _rental(started_at=100, paid_until=4000).billable_seconds(1000) == 900  # running
    assert _rental(started_at=100, paid_until=4000).billable_seconds() == 0  # no clock given
    assert _rental(started_at=100, paid_until=400).billable_seconds(1000) == 300  # ran out
    assert _rental(started_at=100, paid_until=4000, ended_at=700).billable_seconds(9000) == 600
    assert _rental(started_at=100, paid_until=400, ended_at=700).billable_seconds() == 300
    assert _rental(started_at=100, ended_at=50).billable_seconds() == 0  # never negative


def test_listing_moves_follow_the_table():
    from core.domain.listings import LISTING_TRANSITIONS, ListingStatus, check_listing_move

    assert set(LISTING_TRANSITIONS) == set(ListingStatus)  # every status has its row
    assert check_listing_move("paused", "available") == ListingStatus.AVAILABLE
    assert check_listing_move("removed", "removed") == ListingStatus.REMOVED  # no change
    for new in ListingStatus:
        if new != ListingStatus.REMOVED:
            with pytest.raises(IllegalTransition):
                check_listing_move("removed", new)  # removed is final
    with pytest.raises(IllegalTransition):
        check_listing_move("failing", "offline")  # only an offered listing goes offline
    with pytest.raises(IllegalTransition):
        check_listing_move("available", "gone")
