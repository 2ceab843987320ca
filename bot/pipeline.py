"""Part of the composition root (``bot/bootstrap.py``): the typed rental pipeline.

The chain facts' handlers and the follow-up commands are registered with the message bus here,
in one place; the lifecycle, the keeper and the keeper's collaborators (settlement calls, the
arbiter, the repairs, the held payouts) each get the ports they use by name.
"""

from __future__ import annotations

from core.ports import AgentGateway, Clock, EscrowPort, KeyPairFactory
from core.services.arbiter import Arbiter
from core.services.base import MarketRules, UowFactory
from core.services.chain_handlers import RentalChainHandlers
from core.services.followups import FollowUps
from core.services.isolation import Quarantine
from core.services.keeper import Keeper
from core.services.lifecycle import RentalLifecycle
from core.services.messagebus import MessageBus
from core.services.payouts import HeldPayouts
from core.services.recovery import Recovery
from core.services.settlement import Settlement


def rental_pipeline(
    uow: UowFactory,
    clock: Clock,
    rules: MarketRules,
    *,
    escrow: EscrowPort,
    agents: AgentGateway,
    keys: KeyPairFactory,
) -> tuple[MessageBus, RentalLifecycle, Keeper]:
    """The message bus (with its handler registry), the rental lifecycle and the keeper."""
    handlers = RentalChainHandlers(rules, escrow=escrow, keys=keys)
    follow_ups = FollowUps(escrow=escrow, agents=agents)
    bus = MessageBus(uow, clock, facts=handlers.registry(), commands=follow_ups.registry())
    lifecycle = RentalLifecycle(uow, clock, rules, escrow=escrow, agents=agents, bus=bus)
    settlement = Settlement(escrow=escrow, bus=bus)
    quarantine = Quarantine(clock)  # shared: a rental benched by one step is benched for all
    recovery = Recovery(
        uow,
        clock,
        rules,
        agents=agents,
        lifecycle=lifecycle,
        settlement=settlement,
        quarantine=quarantine,
    )
    keeper = Keeper(
        uow,
        clock,
        rules,
        escrow=escrow,
        bus=bus,
        settlement=settlement,
        arbiter=Arbiter(uow, escrow=escrow, bus=bus),
        recovery=recovery,
        payouts=HeldPayouts(uow, clock, escrow=escrow, bus=bus),
        quarantine=quarantine,
    )
    return bus, lifecycle, keeper
