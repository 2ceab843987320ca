"""Simulated provider agents: grant and revoke access without a real host."""

from __future__ import annotations

from core.fakes.background import Background
from core.fakes.hosts import simulated_access_for
from core.ports import AccessGrant, AccessInfo, RentalEvents


class FakeAgentGateway:
    """Implements core.ports.AgentGateway; access is simulated (no SSH server behind it):
    a grant's instance is answered as a simulated agent would (core/fakes/hosts.py)."""

    def __init__(self, background: Background, *, auto_grant: bool = True) -> None:
        self.background = background
        self.auto_grant = auto_grant
        self.events: RentalEvents | None = None
        self.granted: dict[int, AccessGrant] = {}
        self.revoked: list[int] = []
        self.fail_next = False

    def bind(self, events: RentalEvents) -> None:
        self.events = events

    async def grant(self, grant: AccessGrant) -> None:
        self.granted[grant.rental_id] = grant
        if self.auto_grant:
            self.background.spawn(self.answer(grant.rental_id))

    async def answer(self, rental_id: int) -> None:
        if self.fail_next:
            self.fail_next = False
            await self.events.access_failed(rental_id, "simulated host refused the grant")
            return
        grant = self.granted.get(rental_id)
        details = simulated_access_for(rental_id, grant.instance if grant else None)
        await self.events.access_granted(rental_id, AccessInfo.of(details))

    async def revoke(self, machine_id: int, rental_id: int) -> None:
        self.granted.pop(rental_id, None)
        self.revoked.append(rental_id)
