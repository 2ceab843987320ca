"""Helpers for agent API tests: a provider whose token we keep, a funded rental, snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.bootstrap import App
from core.db import tables
from core.wire import Heartbeat
from tests.support import heartbeat, paid_quote, register_provider

PRICE = 400_000


@dataclass
class Host:
    machine_id: int
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def add_host(app: App, name: str = "prov", gpus: tuple[str, ...] = ("rtx4090",)) -> Host:
    """A provider with one priced machine; the agent token is kept for HTTP calls."""
    who = await app.users.identify("terminal", name, name)
    await register_provider(app, who)
    view = await app.providers.add_machine(who, f"{name}-box", "eu")
    await app.agents.heartbeat(view.machine_id, heartbeat(list(gpus)))
    await app.providers.set_price(who, f"{name}-box", PRICE, None)
    return Host(view.machine_id, view.token)


async def fund_rental(app: App, model: str = "rtx4090", who: str = "alice") -> int:
    """Quote, confirm and pay a rental; with the HTTP gateway it waits in provisioning."""
    _, quote = await paid_quote(app, model, who)
    return quote.rental_id


def beat_json(seq: int = 2, gpus: tuple[str, ...] = ("rtx4090",), **extra: object) -> dict:
    hb: Heartbeat = heartbeat(list(gpus), seq=seq)
    return {**hb.model_dump(mode="json"), **extra}


async def snapshot(app: App) -> dict[str, list]:
    """Every row of the tables an agent can write to, for "nothing changed" checks."""
    out = {}
    async with app.db.read.connect() as conn:
        for table in (
            tables.machines,
            tables.machine_gpus,
            tables.machine_templates,
            tables.listings,
            tables.rentals,
            tables.agent_commands,
            tables.agent_evidence,
        ):
            order = table.c.id if "id" in table.c else table.c.name
            rows = (await conn.execute(select(table).order_by(order))).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


async def backdate(app: App, machine_id: int, days: int = 2) -> None:
    """Give the machine ``days`` of full heartbeat coverage (past the new-host period)."""
    async with app.uow() as uow:
        m = await uow.machines.get(machine_id)
        m.first_seen_at = app.clock.now() - days * 86_400
        m.covered_seconds = days * 86_400
        await uow.commit()
