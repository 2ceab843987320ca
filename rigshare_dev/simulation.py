"""The simulated provider agents: real services, simulated GPU hosts (``rigshare_dev/hosts.py``).

Simulated hosts reach the service one of two ways, answering grants alike (the instance they
pretend to run, ``backend="simulated"``, nothing behind its credentials):

- through the agent API's command queue (``rigshare run``): each simulated provider registers,
  adds a machine and prices it through the same services a real provider uses; its "agent" is
  an in-process loop that sends the same heartbeat messages (core.wire) the real agent sends
  and answers the queued grants and revokes. The market history (30 days of uptime) is
  backdated so the reliability figures look like a running marketplace; everything is
  labelled simulated;
- as the agent gateway itself (:class:`SimulatedAgentGateway`: ``rigshare chat`` and the
  tests), answering each grant in process without a queue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.background import Background
from core.domain.model import Provider
from core.ports import AccessGrant, AccessInfo, RentalEvents
from core.wire import CommandResult, ResultBatch
from rigshare_dev.hosts import GPU_TYPES, SimulatedHost, simulated_access, simulated_access_for

if TYPE_CHECKING:  # the composition root imports this module, not the other way round
    from bot.bootstrap import App

log = logging.getLogger(__name__)

# (provider name, region, [(model, count)], price factor in percent, uptime in bps)
FLEET = [
    ("sim-berlin", "eu-central", [("rtx4090", 1), ("rtx4090", 1), ("rtx3090", 1)], 100, 9_950),
    ("sim-frankfurt", "eu-central", [("h100", 1), ("a100-80gb", 1)], 105, 9_990),
    ("sim-virginia", "us-east", [("rtx4090", 1), ("l4", 1)], 90, 9_700),
    ("sim-oregon", "us-west", [("rtx5090", 1), ("rtxa6000", 1)], 110, 9_900),
    ("sim-helsinki", "eu-north", [("h200", 1), ("rtx4090", 1)], 95, 9_850),
    ("sim-tokyo", "asia-east", [("rtx3090", 1), ("h100", 1)], 85, 9_200),
]


async def seed_market(app: App, count: int) -> list[SimulatedHost]:
    """Create up to ``count`` simulated providers (once); return their hosts."""
    hosts: list[SimulatedHost] = []
    now = app.clock.now()
    for i in range(count):
        name, region, gpus, factor, uptime = FLEET[i % len(FLEET)]
        if i >= len(FLEET):
            name = f"{name}-{i // len(FLEET)}"
        who = await app.users.identify("simulated", name, name)
        async with app.uow(readonly=True) as uow:
            provider = await uow.providers.by_user(who.user_id)
            machines = await uow.machines.for_provider(provider.id) if provider else []
        models = [m for m, n in gpus for _ in range(n)]
        if machines:
            hosts.append(SimulatedHost(machines[0].id, models))
            continue
        # simulated hosts are not people with wallets: their payout rows are seeded directly
        # (a person's /register needs the payout wallet's signature)
        async with app.uow() as uow:
            uow.providers.add(Provider(who.user_id, "0x" + f"{i + 1:x}".rjust(40, "5"), now))
            await uow.commit()
        token = await app.providers.add_machine(who, f"{name}-1", region)
        machine_id = await app.agents.authenticate(token.token)
        host = SimulatedHost(machine_id, models)
        await app.agents.heartbeat(machine_id, host.heartbeat(now))
        for model in {m for m, _ in gpus}:
            price = GPU_TYPES[model][2] * factor // 100
            await app.providers.set_price(who, f"{name}-1", price, model)
        await _backdate(app, machine_id, now, uptime)
        hosts.append(host)
    return hosts


async def _backdate(app: App, machine_id: int, now: int, uptime_bps: int) -> None:
    """Give a simulated machine 30 days of heartbeat history at ``uptime_bps``."""
    window = 30 * 86_400
    async with app.uow() as uow:
        m = await uow.machines.get(machine_id)
        m.first_seen_at = now - window
        m.covered_seconds = window * uptime_bps // 10_000
        await uow.commit()
    await app.agents.refresh_reliability(machine_id)


async def heartbeat_loop(app: App, hosts: list[SimulatedHost], interval: float = 15.0) -> None:
    """Stand-in for the agents' heartbeat loops (same messages, sent in-process)."""
    while True:
        for host in hosts:
            await asyncio.sleep(0)  # SQLite runs inline: let chat updates in between beats
            try:
                await app.agents.heartbeat(host.machine_id, host.heartbeat(app.clock.now()))
            except Exception:
                log.exception("simulated heartbeat failed")
        await asyncio.sleep(interval)


async def command_loop(app: App, hosts: list[SimulatedHost], interval: float = 0.5) -> None:
    """Stand-in for the agents' command loops when grants go through the agent API: the
    simulated hosts answer every grant and revoke at once (no SSH server behind them)."""
    while True:
        for host in hosts:
            try:
                await answer_commands(app, host)
            except Exception:
                log.exception("simulated command handling failed")
        await asyncio.sleep(interval)


async def answer_commands(app: App, host: SimulatedHost) -> int:
    batch = await app.agent_commands.pending(host.machine_id, host.after)
    results = []
    for cmd in batch.commands:
        host.after = max(host.after, cmd.seq)
        access = simulated_access(cmd) if cmd.kind == "grant" else None
        results.append(CommandResult(command_id=cmd.id, ok=True, access=access))
    if results:
        await app.agent_commands.record_results(host.machine_id, ResultBatch(results=results))
    return len(results)


class SimulatedAgentGateway:
    """Implements core.ports.AgentGateway; access is simulated (no SSH server behind it):
    a grant's instance is answered as a simulated agent would (rigshare_dev/hosts.py)."""

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
