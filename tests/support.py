"""Helpers for tests: PostgreSQL reachability, schemas, seeding a small market."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, Text, insert, type_coerce

from bot.bootstrap import App, build_app
from bot.settings import Settings
from core.db.json_text import JsonText
from core.domain.listings import ListingQuery
from core.services.views import Principal, QuoteView
from core.wire import GpuInfo, Heartbeat
from rigshare_dev.hosts import CUDA_VERSION, DRIVER_VERSION, simulated_offer, simulated_specs

PG_URL = "postgresql://127.0.0.1:5432/test"


def listening(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on the loopback ``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def pg_available() -> bool:
    return listening(5432)


def pg_exec(sql: str, url: str = PG_URL) -> None:
    """Run ``sql`` on the PostgreSQL server at ``url`` (the local test database)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pg_drop_schema(schema: str) -> None:
    pg_exec(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@asynccontextmanager
async def started_app(settings: Settings, clock: Any, **wiring: Any) -> AsyncIterator[App]:
    """The application built by the production bootstrap and started, in a PostgreSQL schema
    of its own when ``settings`` names one (made before, dropped after)."""
    if settings.database_schema:
        await asyncio.to_thread(pg_exec, f'CREATE SCHEMA "{settings.database_schema}"')
    application = build_app(settings, clock=clock, **wiring)
    await application.start()
    try:
        yield application
    finally:
        await application.close()
        if settings.database_schema:
            await asyncio.to_thread(pg_drop_schema, settings.database_schema)


NVML_NAMES = {
    "rtx4090": ("NVIDIA GeForce RTX 4090", 24564),
    "rtx3090": ("NVIDIA GeForce RTX 3090", 24576),
    "h100": ("NVIDIA H100 80GB HBM3", 81559),
    "a100-80gb": ("NVIDIA A100-SXM4-80GB", 81920),
    "l4": ("NVIDIA L4", 23034),
    "rtx5090": ("NVIDIA GeForce RTX 5090", 32607),
    "rtxa6000": ("NVIDIA RTX A6000", 49140),
}


def heartbeat(
    gpus: list[str], seq: int = 1, sent_at: int = 0, *, instances: bool = True
) -> Heartbeat:
    """A beat reporting ``gpus`` (catalogue keys); with ``instances`` also the host's specs
    and a simulated instance offer (templates base, pytorch, jupyter), as simulated agents
    send; without, a beat of an agent from before instances (SSH access only)."""
    return Heartbeat(
        agent_version="test",
        seq=seq,
        sent_at=sent_at,
        gpus=[
            GpuInfo(
                index=i,
                uuid=f"GPU-{i:04d}-{key}",
                name=NVML_NAMES[key][0],
                vram_total_mib=NVML_NAMES[key][1],
                utilization_pct=3,
                temperature_c=40,
                pcie_gen=4,
                pcie_width=16,
            )
            for i, key in enumerate(gpus)
        ],
        ssh_host="127.0.0.1",
        ssh_port=2222,
        driver_version=DRIVER_VERSION if instances else None,
        cuda_version=CUDA_VERSION if instances else None,
        machine=simulated_specs(len(gpus)) if instances else None,
        offer=simulated_offer() if instances else None,
    )


async def add_provider(
    app: App, name: str, gpus: list[str], price: int, *, region: str = "eu"
) -> tuple[Principal, int]:
    """Register a provider with one machine whose agent reported ``gpus``; priced listings.
    The payout address is the provider's own development wallet, proven by its signature."""
    who = await app.users.identify("terminal", name, name)
    await register_provider(app, who)
    token = await app.providers.add_machine(who, f"{name}-box", region)
    machine_id = await app.agents.authenticate(token.token)
    await app.agents.heartbeat(machine_id, heartbeat(gpus))
    await app.providers.set_price(who, f"{name}-box", price, None)
    return who, machine_id


async def renter(app: App, name: str = "alice", *, wallet: bool = True) -> Principal:
    """A chat user; with ``wallet`` its development wallet is linked (connect approved)."""
    who = await app.users.identify("terminal", name, name)
    if wallet:
        await link_wallet(app, who)
    return who


async def paid_quote(
    app: App, model: str = "rtx4090", who: str = "alice"
) -> tuple[Principal, QuoteView]:
    """A renter (wallet linked) whose one-hour quote is confirmed, paid in the wallet and
    mirrored; returns the renter and the quote."""
    renter_ = await renter(app, who)
    quote = await app.market.quote(renter_, ListingQuery(model=model), 3600)
    await app.rentals.confirm(renter_, quote.rental_id)
    await app.wallet.approve(next(iter(app.wallet.pending)))
    await app.settle()
    return renter_, quote


async def link_wallet(app: App, who: Principal) -> str:
    """Link the user's development wallet as a person would: /connect, approve in the wallet.
    Returns the address."""
    view = await app.wallets.connect(who)
    if not app.wallet.auto_approve:
        await app.wallet.approve_connect(view.request_id)
    await app.settle()
    return app.wallet.address_of(who.user_id)


async def register_provider(app: App, who: Principal, address: str | None = None) -> str:
    """/register with the user's own development wallet (or ``address``), approved in the
    wallet; returns the payout address."""
    address = address or app.wallet.address_of(who.user_id)
    view = await app.providers.register(who, address)
    if not app.wallet.auto_approve:
        await app.wallet.approve(view.request_id)
    await app.settle()
    return address


async def rental_row(app: App, rental_id: int) -> Any:
    """The rental as stored now."""
    async with app.uow(readonly=True) as uow:
        return await uow.rentals.get(rental_id)


async def listing_row(app: App, listing_id: int) -> Any:
    """The listing as stored now."""
    async with app.uow(readonly=True) as uow:
        return await uow.listings.get(listing_id)


async def machine_listings(app: App, machine_id: int) -> list[Any]:
    """The machine's listings as stored now."""
    async with app.uow(readonly=True) as uow:
        return list(await uow.listings.for_machine(machine_id))


async def gpu_holders(app: App, listing_id: int) -> list[int | None]:
    """The rental holding each GPU of the listing (None: free), lowest index first."""
    async with app.uow(readonly=True) as uow:
        listing = await uow.listings.get(listing_id)
        gpus = await uow.gpus.for_machine(listing.machine_id)
    return [g.rental_id for g in gpus if g.listing_id == listing_id]


async def plant_damaged(uow: Any, table: Table, **values: Any) -> None:
    """Insert a row of ``table`` whose JSON columns hold the text given, as it is (a damaged
    row, as no code here writes one): through the mapping a string is stored as a JSON string."""
    stored = {
        name: type_coerce(value, Text) if isinstance(table.c[name].type, JsonText) else value
        for name, value in values.items()
    }
    await uow.session.execute(insert(table).values(stored))
