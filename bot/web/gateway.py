"""Commands to real provider agents over the agent API (implements core.ports.AgentGateway)."""

from __future__ import annotations

from bot.web.hub import CommandHub
from core.ports import AccessGrant
from core.services.agent_commands import AgentCommandService


class HttpAgentGateway:
    """``grant``/``revoke`` queue a command row and wake the machine's long-poll; the agent's
    answer comes back through ``POST /agent/v1/results``. Raises what the database raises."""

    def __init__(self, commands: AgentCommandService, hub: CommandHub) -> None:
        self.commands = commands
        self.hub = hub

    async def grant(self, grant: AccessGrant) -> None:
        await self.commands.queue_grant(grant)
        self.hub.wake(grant.machine_id)

    async def revoke(self, machine_id: int, rental_id: int) -> None:
        await self.commands.queue_revoke(machine_id, rental_id)
        self.hub.wake(machine_id)
