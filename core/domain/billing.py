"""Per-second billing, bit-for-bit the escrow contract's integer math (floor everywhere).

``billed = seconds * price_per_hour // 3600``, ``fee = billed * fee_bps // 10000``,
``refund = deposit - billed``; ``provider_net + fee + refund == deposit`` always.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_HOUR = 3600
BPS = 10_000
FEE_BPS_MIN = 1000
FEE_BPS_MAX = 1500
DEFAULT_FEE_BPS = 1200


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must not be negative: {value}")


def billed(seconds: int, price_per_hour: int) -> int:
    """Amount owed for ``seconds`` of use at ``price_per_hour``; raise ValueError if negative."""
    _check_non_negative(seconds=seconds, price_per_hour=price_per_hour)
    return seconds * price_per_hour // SECONDS_PER_HOUR


def platform_fee(billed_amount: int, fee_bps: int) -> int:
    """The platform's cut of a bill; raise ValueError for a fee outside [1000, 1500] bps."""
    _check_non_negative(billed_amount=billed_amount, fee_bps=fee_bps)
    if not FEE_BPS_MIN <= fee_bps <= FEE_BPS_MAX:
        raise ValueError(f"fee_bps {fee_bps} outside [{FEE_BPS_MIN}, {FEE_BPS_MAX}]")
    return billed_amount * fee_bps // BPS


def refund(deposit: int, billed_amount: int) -> int:
    """What goes back to the renter; raise ValueError if the bill exceeds the deposit."""
    _check_non_negative(deposit=deposit, billed_amount=billed_amount)
    if billed_amount > deposit:
        raise ValueError("bill exceeds deposit")
    return deposit - billed_amount


def paid_seconds(deposit: int, price_per_hour: int) -> int:
    """Seconds of use a deposit buys (the contract's ``paidUntil - startedAt``)."""
    _check_non_negative(deposit=deposit, price_per_hour=price_per_hour)
    if price_per_hour == 0:
        raise ValueError("price must be positive")
    return deposit * SECONDS_PER_HOUR // price_per_hour


def deposit_for(duration_s: int, price_per_hour: int) -> int:
    """Smallest deposit that buys at least ``duration_s`` seconds (rounds up)."""
    _check_non_negative(duration_s=duration_s, price_per_hour=price_per_hour)
    return -(-duration_s * price_per_hour // SECONDS_PER_HOUR)


@dataclass(frozen=True, slots=True)
class Settlement:
    """The exact split of one rental's deposit."""

    deposit: int
    billed: int
    fee: int
    provider_net: int
    refund: int
    seconds_billed: int

    def conserves(self) -> bool:
        return self.provider_net + self.fee + self.refund == self.deposit


def settle(
    *,
    deposit: int,
    price_per_hour: int,
    fee_bps: int,
    started_at: int,
    ended_at: int,
    paid_until: int,
    provider_gross: int | None = None,
) -> Settlement:
    """Split a deposit as the contract does; ``provider_gross`` is the arbiter's bounded award.

    Raises ValueError when the times are inverted or the award exceeds the time-based bill.
    """
    end = min(ended_at, paid_until)
    if end < started_at:
        raise ValueError("rental ends before it starts")
    seconds = end - started_at
    time_bill = billed(seconds, price_per_hour)
    if provider_gross is not None:
        _check_non_negative(provider_gross=provider_gross)
        if provider_gross > time_bill:
            raise ValueError("arbiter award exceeds the time-based bill")
        gross = provider_gross
    else:
        gross = time_bill
    fee = platform_fee(gross, fee_bps)
    return Settlement(
        deposit=deposit,
        billed=gross,
        fee=fee,
        provider_net=gross - fee,
        refund=refund(deposit, gross),
        seconds_billed=seconds,
    )
