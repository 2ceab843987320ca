"""core.domain.billing computes bit-for-bit what the escrow pays (ARCHITECTURE.md, Money rules)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import billing
from tests.contracts.helpers import block_time, rental, settled
from tests.contracts.sandbox import USDC, Sandbox

MAX_PREPAID = 3650 * 86400
SLOW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def rentals(draw):
    price = draw(st.integers(1000, 10**10))  # 0.001 to 10,000 USDC per hour
    lo = max(USDC, -(-600 * price // 3600))  # min deposit and >= 600 s prepaid
    hi = min(10**13, MAX_PREPAID * price // 3600)
    deposit = draw(st.integers(lo, hi))
    paid = deposit * 3600 // price
    used = draw(st.one_of(st.integers(0, paid + 7200), st.sampled_from([0, 1, paid - 1, paid])))
    fee_bps = draw(st.integers(1000, 1500))
    share = draw(st.integers(0, 10**6))
    return price, deposit, used, fee_bps, share


@contextmanager
def _started_rental(
    sb: Sandbox, price: int, deposit: int, fee_bps: int
) -> Iterator[tuple[bytes, int, int]]:
    """A rental opened and started, as (id, start time, paid until); rolled back afterwards."""
    with sb.rolled_back():
        sb.send(sb.escrow.functions.setFeeBps(fee_bps), "deployer")
        sb.mint("renter", deposit)
        terms = sb.terms(price_per_hour=price, deposit=deposit)
        sb.send(sb.token.functions.approve(sb.escrow.address, deposit), "renter")
        sb.send(sb.escrow.functions.open(terms.as_tuple()), "renter")
        rid = sb.rental_id(terms)
        started = block_time(sb, sb.send(sb.escrow.functions.start(rid), "provider"))
        yield rid, started, rental(sb, rid)["paidUntil"]


def _settles_as_python(
    sb: Sandbox,
    receipt,
    terms: tuple[int, int, int],
    times: tuple[int, int, int],
    gross: int | None = None,
) -> billing.Settlement:
    """Assert the contract paid what billing.settle computes for the rental's (price,
    deposit, fee) ``terms`` and (started, ended, paid until) ``times``; return that."""
    price, deposit, fee_bps = terms
    started, ended, paid_until = times
    expected = billing.settle(
        deposit=deposit,
        price_per_hour=price,
        fee_bps=fee_bps,
        started_at=started,
        ended_at=ended,
        paid_until=paid_until,
        provider_gross=gross,
    )
    assert settled(sb, receipt) == (expected.provider_net, expected.fee, expected.refund)
    return expected


@SLOW
@given(case=rentals())
def test_time_bill_matches_python(sb: Sandbox, case) -> None:
    price, deposit, used, fee_bps, _ = case
    with _started_rental(sb, price, deposit, fee_bps) as (rid, started, paid_until):
        assert paid_until - started == billing.paid_seconds(deposit, price)
        sb.set_next_timestamp(started + max(used, 1))
        receipt = sb.send(sb.escrow.functions.stopAndSettle(rid), "renter")
        ended = block_time(sb, receipt)
        seconds = min(ended, paid_until) - started
        bill = billing.billed(seconds, price)
        fee = billing.platform_fee(bill, fee_bps)
        assert settled(sb, receipt) == (bill - fee, fee, billing.refund(deposit, bill))
        expected = _settles_as_python(
            sb, receipt, (price, deposit, fee_bps), (started, ended, paid_until)
        )
        assert expected.conserves()


@SLOW
@given(case=rentals())
def test_arbiter_split_matches_python(sb: Sandbox, case) -> None:
    price, deposit, used, fee_bps, share = case
    with _started_rental(sb, price, deposit, fee_bps) as (rid, started, paid_until):
        sb.set_next_timestamp(started + max(used, 1))
        receipt = sb.send(sb.escrow.functions.openDispute(rid, b"\x00" * 32), "renter")
        ended = min(block_time(sb, receipt), paid_until)
        bill = billing.billed(ended - started, price)
        assert sb.escrow.functions.billedNow(rid).call() == bill
        gross = bill * share // 10**6
        receipt = sb.send(sb.escrow.functions.resolve(rid, gross), "arbiter")
        _settles_as_python(
            sb, receipt, (price, deposit, fee_bps), (started, ended, paid_until), gross
        )
