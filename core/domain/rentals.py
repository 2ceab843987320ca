"""Rental lifecycle: the off-chain mirror of the escrow contract's state machine."""

from __future__ import annotations

from enum import StrEnum

from core.domain.errors import IllegalTransition


class RentalState(StrEnum):
    QUOTED = "quoted"
    AWAITING_PAYMENT = "awaiting_payment"
    FUNDED = "funded"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    ENDED = "ended"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    DISPUTED = "disputed"
    RESOLVED = "resolved"


class StateName(str):
    """A rental state inside an error's parameters: it reads as English ("awaiting payment"),
    and a front end shows ``state`` in the reader's language (the ``state.*`` catalogue)."""

    state: str

    def __new__(cls, state: str) -> StateName:
        obj = super().__new__(cls, str(state).replace("_", " "))
        obj.state = str(state)
        return obj


S = RentalState

TRANSITIONS: dict[RentalState, frozenset[RentalState]] = {
    S.QUOTED: frozenset({S.AWAITING_PAYMENT, S.CANCELLED}),
    # An unpaid quote whose hold expires is cancelled; a payment seen moves it on.
    S.AWAITING_PAYMENT: frozenset({S.FUNDED, S.CANCELLED}),
    # Funded but never provisioned: the contract refunds in full (cancelPending).
    S.FUNDED: frozenset({S.PROVISIONING, S.ACTIVE, S.CANCELLED}),
    S.PROVISIONING: frozenset({S.ACTIVE, S.CANCELLED}),
    S.ACTIVE: frozenset({S.ENDED, S.DISPUTED}),
    S.ENDED: frozenset({S.SETTLED, S.DISPUTED}),
    S.DISPUTED: frozenset({S.RESOLVED}),
    S.SETTLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.RESOLVED: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# A live rental holds its GPUs (or is about to): from the deposit asked for to its end. The
# listing is occupied, /status follows it, its machine cannot be removed.
LIVE: tuple[RentalState, ...] = (S.AWAITING_PAYMENT, S.FUNDED, S.PROVISIONING, S.ACTIVE)


def check_transition(current: RentalState | str, new: RentalState | str) -> RentalState:
    """Return ``new`` as a RentalState; raise IllegalTransition if the lifecycle forbids it."""
    cur, nxt = RentalState(current), RentalState(new)
    if nxt not in TRANSITIONS[cur]:
        raise IllegalTransition.keyed(
            "rentals.illegal_transition", state=StateName(cur), to=StateName(nxt)
        )
    return nxt
