"""The escrow calls the service makes by itself for a rental (the keeper and its repairs),
each named by a ``SettlementAction`` and mapped to its port method explicitly."""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING

from core.domain.model import Rental
from core.errors import CoreError
from core.ports import ChainReceipt, EscrowPort

if TYPE_CHECKING:
    from core.services.messagebus import MessageBus

log = logging.getLogger(__name__)


class SettlementAction(Enum):
    START = "start"  # the agent runs the instance: billing starts
    STOP_EXPIRED = "stop_expired"  # the prepaid time ran out (anyone may, after paidUntil)
    FINALIZE = "finalize"  # the challenge window or the arbiter timeout passed


class Settlement:
    """Makes one settlement call for a rental and mirrors its receipt's events."""

    def __init__(self, *, escrow: EscrowPort, bus: MessageBus) -> None:
        self.escrow = escrow
        self.bus = bus

    async def _call(self, action: SettlementAction, escrow_id: str) -> ChainReceipt:
        if action is SettlementAction.START:
            return await self.escrow.start(escrow_id)
        if action is SettlementAction.STOP_EXPIRED:
            return await self.escrow.stop_expired(escrow_id)
        if action is SettlementAction.FINALIZE:
            return await self.escrow.finalize(escrow_id)
        raise ValueError(f"no escrow call for {action!r}")

    async def run(self, rental: Rental, action: SettlementAction) -> int:
        """1 if the call went through (its events are applied at once); a refused or failed
        call (CoreError) is logged and 0 returned: the keeper tries again next pass."""
        if rental.escrow_id is None:  # never opened on the chain: nothing to settle there
            raise ValueError(f"rental {rental.id} has no escrow id to {action.name.lower()}")
        try:
            receipt = await self._call(action, rental.escrow_id)
        except CoreError as exc:
            log.warning(
                "%s of rental %s failed (%s); retried next tick", action.value, rental.id, exc
            )
            return 0
        await self.bus.record(receipt)
        return 1
