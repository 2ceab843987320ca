"""Follow-up commands: the calls to agents and the escrow that a mirrored chain event asks for,
made after its transaction commits (``core.services.messagebus``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.domain.model import Rental
from core.errors import PaymentError
from core.ports import AccessGrant, AgentGateway, ChainEvent, EscrowPort

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GrantAccess:
    grant: AccessGrant


@dataclass(frozen=True, slots=True)
class RevokeAccess:
    machine_id: int
    rental_id: int


@dataclass(frozen=True, slots=True)
class RefundUnstarted:
    """Give a paid rental that never ran its deposit back (the escrow's cancelPending)."""

    rental_id: int
    escrow_id: str

    @classmethod
    def of(cls, rental: Rental) -> RefundUnstarted:
        if rental.id is None or rental.escrow_id is None:  # only a paid rental is refunded
            raise ValueError(f"rental {rental.id} has no escrow id to refund")
        return cls(rental.id, rental.escrow_id)


class FollowUps:
    """The follow-up commands' handlers, with the ports they call."""

    def __init__(self, *, escrow: EscrowPort, agents: AgentGateway) -> None:
        self.escrow = escrow
        self.agents = agents

    def registry(self) -> Mapping[type, Callable[[Any], Any]]:
        return {
            GrantAccess: self.grant,
            RevokeAccess: self.revoke,
            RefundUnstarted: self.refund,
        }

    async def grant(self, command: GrantAccess) -> Sequence[ChainEvent]:
        await self.agents.grant(command.grant)
        return ()

    async def revoke(self, command: RevokeAccess) -> Sequence[ChainEvent]:
        await self.agents.revoke(command.machine_id, command.rental_id)
        return ()

    async def refund(self, command: RefundUnstarted) -> Sequence[ChainEvent]:
        try:
            receipt = await self.escrow.cancel_pending(command.escrow_id)
        except PaymentError:
            log.exception(
                "cancelPending failed for rental %s; retried by the keeper", command.rental_id
            )
            return ()
        # one transaction: a refund the token refused (PaymentParked) is never told as refunded
        return receipt.events
