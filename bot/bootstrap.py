"""Composition root: the only module that builds and wires everything.

Production (``rigshare run``) and the tests build the application the same way; tests pass
their own clock and fakes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.keys import AsyncsshKeyPairFactory
from bot.settings import Settings
from bot.system import SystemClock
from bot.web.gateway import HttpAgentGateway
from bot.web.hub import CommandHub
from core.db.engine import Database, create_database
from core.db.mapping import start_mappers
from core.db.migrate import migrate
from core.db.uow import SqlAlchemyUowFactory
from core.fakes.agents import FakeAgentGateway
from core.fakes.background import Background
from core.fakes.escrow import FakeEscrow
from core.fakes.wallet import FakeWallet
from core.ports import AgentGateway, Clock, EscrowPort, KeyPairFactory, WalletPort
from core.services.agent_commands import AgentCommandService
from core.services.agents import AgentService
from core.services.base import MarketRules
from core.services.lifecycle import RentalLifecycle
from core.services.market import MarketService
from core.services.notifications import NotificationService
from core.services.providers import ProviderService
from core.services.receipts import ReceiptService
from core.services.rentals import RentalService
from core.services.users import UserService

log = logging.getLogger(__name__)
DEV_FAUCET = 1_000 * 1_000_000  # every development wallet starts with 1,000 USDC


@dataclass
class App:
    settings: Settings
    clock: Clock
    db: Database
    background: Background
    escrow: EscrowPort
    wallet: WalletPort
    agent_gateway: AgentGateway
    users: UserService
    market: MarketService
    rentals: RentalService
    lifecycle: RentalLifecycle
    receipts: ReceiptService
    providers: ProviderService
    agents: AgentService
    notifications: NotificationService
    agent_commands: AgentCommandService
    command_hub: CommandHub
    notes: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate the database to the current schema (safe on every start)."""
        await migrate(self.db)

    async def settle(self) -> None:
        """Wait until simulated wallets and agents have answered (tests, terminal)."""
        await self.background.settle()

    async def close(self) -> None:
        await self.background.settle()
        await self.db.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        path = url.split("///", 1)[1]
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    escrow: EscrowPort | None = None,
    wallet: WalletPort | None = None,
    agents: AgentGateway | str | None = None,
    keys: KeyPairFactory | None = None,
    auto_approve: bool = False,
) -> App:
    """Wire the services; ports not given are the in-memory fakes of the embedded default.

    ``agents="http"`` sends grants and revokes to real provider agents through the agent API
    (``bot/web``); by default agents are simulated in memory.
    """
    start_mappers()
    clock = clock or SystemClock()
    background = Background()
    _ensure_sqlite_dir(settings.database_url)
    db = create_database(settings.database_url, schema=settings.database_schema)
    uow = SqlAlchemyUowFactory(db)
    rules = MarketRules(fee_bps=settings.fee_bps, server_url=settings.public_url)
    notes = []
    agent_commands = AgentCommandService(uow, clock, rules)
    hub = CommandHub(agent_commands)
    if escrow is None:
        escrow = FakeEscrow(clock, fee_bps=settings.fee_bps, faucet=DEV_FAUCET)
        notes.append("escrow: in-memory simulation (the contract adapter is not wired yet)")
    if wallet is None:
        wallet = FakeWallet(background, auto_approve=auto_approve, base_url=settings.public_url)
        notes.append("wallet: development wallet that signs on your behalf")
    if agents == "http":
        agents = HttpAgentGateway(agent_commands, hub)
    elif agents is None:
        agents = FakeAgentGateway(background)
        notes.append("provider agents: simulated (no SSH server behind the credentials)")
    elif isinstance(agents, str):
        raise ValueError(f"unknown agent gateway {agents!r} (use 'http' or a gateway object)")
    market = MarketService(uow, clock, rules)
    lifecycle = RentalLifecycle(
        uow, clock, rules, escrow=escrow, agents=agents, keys=keys or AsyncsshKeyPairFactory()
    )
    for port in (wallet, agents, agent_commands):
        bind = getattr(port, "bind", None)
        if bind is not None:
            bind(lifecycle)
    return App(
        settings=settings,
        clock=clock,
        db=db,
        background=background,
        escrow=escrow,
        wallet=wallet,
        agent_gateway=agents,
        users=UserService(uow, clock, rules),
        market=market,
        rentals=RentalService(uow, clock, rules, market=market, escrow=escrow, wallet=wallet),
        lifecycle=lifecycle,
        receipts=ReceiptService(uow, clock, rules),
        providers=ProviderService(uow, clock, rules),
        agents=AgentService(uow, clock, rules),
        notifications=NotificationService(uow, clock, rules),
        agent_commands=agent_commands,
        command_hub=hub,
        notes=notes,
    )
