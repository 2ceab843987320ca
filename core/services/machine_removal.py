"""/removemachine: a provider takes a machine off rigshare for good.

The row stays (rentals and receipts refer to it) but the machine is gone for every purpose:
its listings leave the market, its agent token stops working at once, its name is free for a
new machine, and /machines no longer shows it. Bound as ``ProviderService.remove_machine``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from core.domain.listings import ListingStatus, MachineStatus
from core.domain.model import stored_id
from core.domain.rentals import LIVE
from core.domain.rentals import RentalState as S
from core.errors import Conflict, ValidationError
from core.services.views import Notice, Principal

if TYPE_CHECKING:
    from core.services.providers import ProviderService

# a renter has paid (or is paying right now) for time on the machine
BUSY = (*LIVE, S.DISPUTED)
OFFERED = [s for s in ListingStatus if s != ListingStatus.REMOVED]


async def remove_machine(
    self: ProviderService, who: Principal, machine_name: str, *, confirmed: bool = False
) -> Notice:
    """Remove a machine of the provider's.

    Raises Forbidden outside a private chat, NotFound for a machine that is not theirs,
    Conflict while a rental is paid or running on it, and ValidationError keyed
    ``providers.remove_confirm`` (changing nothing) unless ``confirmed``.
    """
    from core.services.providers import _private_only, hash_token

    _private_only(who)
    async with self.uow() as uow:
        machine = await self._machine(uow, who, machine_name)
        busy = await uow.rentals.on_machine(stored_id(machine), [s.value for s in BUSY])
        if busy:
            raise Conflict.keyed(
                "providers.remove_busy",
                machine=machine.name,
                rental_id=busy[0],
            )
        if not confirmed:
            raise ValidationError.keyed(
                "providers.remove_confirm",
                machine=machine.name,
                again=f"{machine.name} confirm",
            )
        name = machine.name
        machine.status = MachineStatus.REMOVED
        machine.name = f"~{machine.id}"  # frees the name: no typed machine name has a "~"
        # a token nobody knows: the agent's next heartbeat is refused
        await uow.machines.set_token_hash(stored_id(machine), hash_token(secrets.token_urlsafe(32)))
        await uow.listings.set_status_for_machine(
            stored_id(machine), OFFERED, ListingStatus.REMOVED
        )
        await uow.commit()
    return Notice("provider.machine_removed", {"machine": name})
