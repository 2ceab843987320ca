"""What the escrow refuses, checked before anything is quoted or signed.

The contract refuses to open a rental whose deposit is below ``minDeposit`` or whose prepaid
time (``deposit * 3600 // pricePerHour``) is below ``minPrepaidSeconds``; its owner may change
both for new rentals, so they come from the escrow (``EscrowPort.minimums``), not from settings.
An extension is refused once the prepaid time has run out, or past the contract's ten-year cap.
Refusing here means no renter signs an authorization the contract would only turn down.
"""

from __future__ import annotations

from core.domain.billing import SECONDS_PER_HOUR, deposit_for, paid_seconds
from core.domain.durations import format_duration
from core.domain.model import Rental
from core.domain.money import Shown, places_for
from core.errors import Conflict, ValidationError
from core.ports import EscrowPort

MAX_PREPAID_SECONDS = 3650 * 86_400  # RentalEscrow.MAX_PREPAID_SECONDS


def shortest_for_deposit(min_deposit: int, price_per_hour: int) -> int:
    """The shortest duration, in whole minutes, whose deposit reaches ``min_deposit``."""
    # deposit_for rounds up: it reaches the minimum from just past (min - 1) units' worth
    seconds = max(0, min_deposit - 1) * SECONDS_PER_HOUR // price_per_hour + 1
    minutes = -(-seconds // 60)
    while deposit_for(minutes * 60, price_per_hour) < min_deposit:  # never short
        minutes += 1
    return minutes * 60


async def check_open(escrow: EscrowPort | None, deposit: int, price_per_hour: int) -> None:
    """Raise ValidationError (with the way out) when the escrow would refuse to open a rental
    with this deposit at this price (all GPUs together); nothing when there is no escrow."""
    if escrow is None:
        return
    limits = await escrow.minimums()
    prepaid = paid_seconds(deposit, price_per_hour)
    if prepaid < limits.min_prepaid_seconds:
        raise ValidationError.keyed(
            "market.min_prepaid",
            minimum=format_duration(limits.min_prepaid_seconds),
        )
    if deposit < limits.min_deposit:
        raise ValidationError.keyed(
            "market.min_deposit",
            minimum=Shown(limits.min_deposit, places=places_for(limits.min_deposit, deposit)),
            deposit=Shown(deposit, places=places_for(limits.min_deposit, deposit)),
            duration=format_duration(shortest_for_deposit(limits.min_deposit, price_per_hour)),
        )


def check_extend(rental: Rental, amount: int, now: int) -> None:
    """Raise Conflict when the escrow would refuse topping ``rental`` up by ``amount``: its
    prepaid time already ran out, or the total would pass the contract's ten-year cap."""
    if rental.paid_until is not None and rental.paid_until <= now:
        raise Conflict.keyed(
            "rentals.extend_too_late",
            rental_id=rental.id,
        )
    if paid_seconds(rental.deposit + amount, rental.price_per_hour) > MAX_PREPAID_SECONDS:
        raise ValidationError.keyed(
            "rentals.extend_too_long",
            rental_id=rental.id,
            limit=format_duration(MAX_PREPAID_SECONDS),
        )
