"""What the escrow reports, as typed facts (past tense): one frozen dataclass per event kind.

The chain adapters deliver ``core.ports.ChainEvent`` (the contract's event name and its raw
arguments); :func:`fact_of` turns one into the fact it states, reading the contract's argument
names (``startedAt``, ``paidUntil``, ``providerNet`` ...) in one place. A name it does not know
gives None: the chain is outside input, and the service logs and skips what it cannot read.
A known name whose arguments are missing or not numbers raises ``MalformedEvent`` (the watcher
retries it a few polls, then sets it aside with a reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class MalformedEvent(ValueError):
    """A known event whose arguments are not what the contract emits."""


@dataclass(frozen=True, slots=True)
class ChainFact:
    """Where a fact was logged: (tx_hash, log_index) identifies it on chain."""

    tx_hash: str
    log_index: int
    block_number: int
    escrow_id: str  # the rental's id on chain; for an account event, the account (lower-case)


@dataclass(frozen=True, slots=True)
class RentalFact(ChainFact):
    """A fact about one rental (found by its ``escrow_id``)."""


@dataclass(frozen=True, slots=True)
class RentalOpened(RentalFact):
    pass


@dataclass(frozen=True, slots=True)
class RentalStarted(RentalFact):
    started_at: int
    paid_until: int


@dataclass(frozen=True, slots=True)
class RentalExtended(RentalFact):
    deposit: int
    paid_until: int


@dataclass(frozen=True, slots=True)
class RentalEnded(RentalFact):
    ended_at: int


@dataclass(frozen=True, slots=True)
class RentalCancelled(RentalFact):
    pass  # its RentalSettled (same receipt) carries the refund


@dataclass(frozen=True, slots=True)
class RentalSettled(RentalFact):
    provider_net: int
    fee: int
    refund: int


@dataclass(frozen=True, slots=True)
class PaymentParked(RentalFact):
    """The token refused a settlement's push; the escrow holds ``amount`` for ``to``
    (the contract's ``PushFailed``)."""

    to: str  # lower-case
    amount: int


@dataclass(frozen=True, slots=True)
class DisputeOpened(RentalFact):
    pass


@dataclass(frozen=True, slots=True)
class DisputeResolved(RentalFact):
    provider_gross: int


@dataclass(frozen=True, slots=True)
class DisputeTimedOut(RentalFact):
    pass  # its RentalSettled carries the time-based bill


@dataclass(frozen=True, slots=True)
class PayoutClaimed(ChainFact):
    """Everything parked for the account ``escrow_id`` before this was paid (``Claimed``)."""


Head = tuple[str, int, int, str]  # tx_hash, log_index, block_number, escrow_id
_Parse = Callable[[Head, Mapping[str, Any]], ChainFact]


def _int(args: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedEvent(f"argument {name!r} is {value!r}, not an integer")
    try:
        return int(value)
    except ValueError:
        raise MalformedEvent(f"argument {name!r} is {value!r}, not an integer") from None


def _address(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise MalformedEvent(f"argument {name!r} is {value!r}, not an address")
    return value.lower()


# the contract's event name -> how its arguments become the fact (the one place they are read)
PARSERS: Mapping[str, _Parse] = {
    "RentalOpened": lambda h, a: RentalOpened(*h),
    "RentalStarted": lambda h, a: RentalStarted(
        *h, started_at=_int(a, "startedAt"), paid_until=_int(a, "paidUntil")
    ),
    "RentalExtended": lambda h, a: RentalExtended(
        *h, deposit=_int(a, "deposit"), paid_until=_int(a, "paidUntil")
    ),
    "RentalEnded": lambda h, a: RentalEnded(*h, ended_at=_int(a, "endedAt")),
    "RentalCancelled": lambda h, a: RentalCancelled(*h),
    "RentalSettled": lambda h, a: RentalSettled(
        *h, provider_net=_int(a, "providerNet"), fee=_int(a, "fee"), refund=_int(a, "refund")
    ),
    "PushFailed": lambda h, a: PaymentParked(*h, to=_address(a, "to"), amount=_int(a, "amount")),
    "DisputeOpened": lambda h, a: DisputeOpened(*h),
    "DisputeResolved": lambda h, a: DisputeResolved(*h, provider_gross=_int(a, "providerGross", 0)),
    "DisputeTimedOut": lambda h, a: DisputeTimedOut(*h),
    "Claimed": lambda h, a: PayoutClaimed(*h),
}


def fact_of(name: str, head: Head, args: Mapping[str, Any]) -> ChainFact | None:
    """The fact an event named ``name`` states; None for a name this service does not know.
    Raises MalformedEvent for a known name whose arguments are not the contract's."""
    parse = PARSERS.get(name) if isinstance(name, str) else None
    return None if parse is None else parse(head, args)
