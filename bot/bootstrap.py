"""Composition root: the only module that builds and wires everything.

Production (``rigshare run``) and the tests build the application the same way; tests pass
their own clock and fakes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from bot.background import Background
from bot.common.admission import Admission
from bot.keys import AsyncsshKeyPairFactory
from bot.pipeline import rental_pipeline
from bot.probe_ssh import AsyncsshHostProber
from bot.settings import Settings
from bot.system import SystemClock
from bot.web.gateway import HttpAgentGateway
from bot.web.hub import CommandHub
from contracts.escrow import Web3Escrow
from contracts.relayer import Relayer
from contracts.signatures import EthSignatureVerifier
from contracts.walletconnect.store import SecretBox
from contracts.walletconnect.wallet import WalletConnectWallet
from contracts.watcher import ChainWatcher
from core.db.engine import Database, create_database
from core.db.listings import SEARCHED_TABLES
from core.db.mapping import start_mappers
from core.db.migrate import migrate
from core.db.mutex import DatabaseMutex
from core.db.uow import SqlAlchemyUowFactory
from core.ports import (
    AgentGateway,
    Clock,
    EscrowPort,
    EventSource,
    HostProber,
    KeyPairFactory,
    RentalEvents,
    SignatureVerifier,
    WalletPort,
)
from core.services.agent_commands import AgentCommandService
from core.services.agents import AgentService
from core.services.base import MarketRules, UowFactory
from core.services.keeper import Keeper
from core.services.kv import KeyValueService
from core.services.lifecycle import RentalLifecycle
from core.services.market import MarketService
from core.services.messagebus import MessageBus
from core.services.notifications import NotificationService
from core.services.probes import ProbeService
from core.services.providers import ProviderService
from core.services.receipts import ReceiptService
from core.services.rentals import RentalService
from core.services.search_cache import SearchCache
from core.services.signing import EventRouter, SigningPages
from core.services.updates import UpdateLedger
from core.services.users import UserService
from core.services.wallets import WalletService

# The development package (rigshare_dev: the embedded development chain, the in-memory chain,
# development wallets, simulated agents) is imported only where the settings choose it.
if TYPE_CHECKING:  # the development chain needs py-evm (the `dev` extra); production does not
    from rigshare_dev.chain import DevChain

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
    bus: MessageBus  # mirrors chain events and runs their follow-ups
    keeper: Keeper  # every waiting state ends by itself (one leader runs it)
    receipts: ReceiptService
    providers: ProviderService
    agents: AgentService
    notifications: NotificationService
    agent_commands: AgentCommandService
    command_hub: CommandHub
    kv: KeyValueService  # small settings kept across restarts (Discord board ids)
    updates: UpdateLedger  # chat updates handled once across processes
    wallets: WalletService  # link / show / forget the user's wallet
    events: EventRouter  # late results from wallets and agents (core.ports.RentalEvents)
    signing: SigningPages  # the one-time signing page's use cases
    verifier: SignatureVerifier
    probes: ProbeService  # the service's own probes: what "verified" rests on
    admission: Admission  # chat updates handled at once in this process, and waiting
    # the units of work the services were given, for the development tools (seeding, the
    # demo) and tests that look into the database: none reaches for a service's own
    uow: UowFactory
    notes: list[str] = field(default_factory=list)
    watcher: ChainWatcher | None = None  # mirrors the escrow's events (real chains only)
    dev_chain: DevChain | None = None
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self, *, chain: bool = True) -> None:
        """Migrate the database to the current schema (safe on every start), then bring up
        the chain: deploy the development chain's contracts or connect to the escrow.
        Raises ChainError (a CoreError) when the escrow cannot be reached."""
        await migrate(self.db)
        for step in self.startup if chain else ():
            await step()

    async def settle(self) -> None:
        """Wait until simulated wallets and agents have answered (tests, terminal)."""
        await self.background.settle()

    async def close(self) -> None:
        await self.background.settle()
        for step in self.shutdown:
            await step()
        await self.db.dispose()


def _dev_chain(clock: Clock, fee_bps: int) -> DevChain:
    try:
        from rigshare_dev.chain import DevChain
    except ImportError as exc:
        raise ValueError(
            f"the embedded development chain needs py-evm ({exc.name} is not installed): "
            "install rigshare with `pip install '.[dev]'`, or set RPC_URL, ESCROW_ADDRESS and "
            "RELAYER_KEY for a real chain (README, 'The chain')"
        ) from None
    return DevChain(clock, fee_bps=fee_bps)


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    escrow: EscrowPort | None = None,
    wallet: WalletPort | None = None,
    agents: AgentGateway | str | None = None,
    keys: KeyPairFactory | None = None,
    prober: HostProber | None = None,
    auto_approve: bool = False,
) -> App:
    """Wire the services; ports not given come from the settings.

    The escrow and wallet are the in-process development chain with funded development
    wallets (``chain="dev"``, the embedded default), any JSON-RPC node (``rpc_url``), or the
    in-memory fakes (``chain="fake"``, unit tests). ``agents="http"`` sends grants and revokes
    to real provider agents through the agent API (``bot/web``); by default agents are
    simulated in memory. Raises ValueError for an incomplete chain configuration.
    """
    start_mappers()
    clock = clock or SystemClock()
    background = Background()
    db = create_database(settings.database_url, schema=settings.database_schema)
    uow = SqlAlchemyUowFactory(db)
    rules = MarketRules(
        fee_bps=settings.fee_bps,
        server_url=settings.public_url,
        arbiter_delay_s=settings.arbiter_delay_s,
        relay_retry_s=settings.relay_retry_s,
    )
    agent_commands = AgentCommandService(uow, clock, rules)
    hub = CommandHub(agent_commands)
    chain = _Chain(settings, clock, background, auto_approve)
    chain.uow = uow
    chain.db = db  # the relayer's nonces are shared with every process on this database
    if escrow is None:
        escrow = chain.escrow()
    if wallet is None:
        wallet = chain.wallet(escrow)
    notes = chain.notes
    if agents == "http":
        agents = HttpAgentGateway(agent_commands, hub)
    elif agents is None:
        from rigshare_dev.simulation import SimulatedAgentGateway

        agents = SimulatedAgentGateway(background)
        notes.append("provider agents: simulated (no SSH server behind the credentials)")
    elif isinstance(agents, str):
        raise ValueError(f"unknown agent gateway {agents!r} (use 'http' or a gateway object)")
    pages = SearchCache(settings.market_cache_s)
    # every change of the market this process makes is seen by the next search at once
    db.watch_writes(SEARCHED_TABLES, pages.invalidate)
    market = MarketService(uow, clock, rules, escrow=escrow, pages=pages)
    bus, lifecycle, keeper = rental_pipeline(
        uow, clock, rules, escrow=escrow, agents=agents, keys=keys or AsyncsshKeyPairFactory()
    )
    verifier = chain.verifier()
    wallets = WalletService(uow, clock, rules, wallet=wallet, escrow=escrow)
    rentals = RentalService(
        uow, clock, rules, market=market, escrow=escrow, wallet=wallet, wallets=wallets
    )
    providers = ProviderService(uow, clock, rules, wallet=wallet, verifier=verifier)
    events = EventRouter(
        uow, verifier, lifecycle=lifecycle, wallets=wallets, rentals=rentals, providers=providers
    )
    agent_commands.bind(events)
    _bind_events(events, wallet, agents)
    watcher = None
    if prober is None:
        key = settings.probe_ssh_key
        prober = AsyncsshHostProber(
            private_key=key.get_secret_value() if key else None, data_dir=settings.data_dir
        )
    if isinstance(escrow, Web3Escrow):
        watcher = ChainWatcher(
            escrow,
            lifecycle.chain_event,
            uow,
            confirmations=0 if chain.dev is not None else settings.confirmations,
            start_block=settings.escrow_start_block,
            batch_sink=bus.apply,
        )
        chain.watcher = watcher
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
        rentals=rentals,
        lifecycle=lifecycle,
        bus=bus,
        keeper=keeper,
        receipts=ReceiptService(uow, clock, rules),
        providers=providers,
        agents=AgentService(uow, clock, rules),
        notifications=NotificationService(uow, clock, rules),
        agent_commands=agent_commands,
        command_hub=hub,
        kv=KeyValueService(uow, clock, rules),
        updates=UpdateLedger(uow, clock, rules),
        wallets=wallets,
        events=events,
        signing=SigningPages(uow, clock, rules, verifier=verifier, events=events),
        verifier=verifier,
        probes=ProbeService(uow, clock, rules, prober=prober, wake=hub.wake),
        admission=Admission(settings.updates_in_flight, settings.updates_waiting),
        uow=uow,
        notes=notes,
        watcher=watcher,
        dev_chain=chain.dev,
        startup=chain.startup,
        shutdown=chain.shutdown,
    )


def _bind_events(events: RentalEvents, *ports: WalletPort | AgentGateway) -> None:
    """Hand the late results' router to the ports whose adapters report back (the wallet's
    signatures, the simulated agents' grants); the others (an HTTP gateway, a test double that
    answers nothing) are left as they are."""
    for port in ports:
        if isinstance(port, EventSource):
            port.bind(events)


class _Chain:
    """Builds the escrow and wallet ports the settings ask for, and their start-up steps."""

    def __init__(
        self, settings: Settings, clock: Clock, background: Background, auto_approve: bool
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.background = background
        self.auto_approve = auto_approve
        self.uow: SqlAlchemyUowFactory | None = None  # set by build_app (WalletConnect store)
        self.db: Database | None = None
        self.mode = "rpc" if settings.rpc_url else settings.chain
        self.dev: DevChain | None = None
        self.watcher: ChainWatcher | None = None
        self.notes: list[str] = []
        self.startup: list[Callable[[], Awaitable[None]]] = []
        self.shutdown: list[Callable[[], Awaitable[None]]] = []

    def escrow(self) -> EscrowPort:
        s = self.settings
        if self.mode == "fake":
            from rigshare_dev.fakes.escrow import FakeEscrow

            self.notes.append("escrow: in-memory simulation (chain=fake)")
            return FakeEscrow(self.clock, fee_bps=s.fee_bps, faucet=DEV_FAUCET)
        if self.mode == "dev":
            self.dev = _dev_chain(self.clock, s.fee_bps)
            escrow = Web3Escrow(
                self.dev.w3, self.dev.relayer("operator"), arbiter=self.dev.relayer("arbiter")
            )
            self.startup.append(lambda: self._start_dev(escrow))
            return escrow
        if not s.escrow_address or s.relayer_key is None:
            raise ValueError("RPC_URL needs ESCROW_ADDRESS and RELAYER_KEY (see README)")
        w3 = AsyncWeb3(AsyncHTTPProvider(s.rpc_url))
        key = Account.from_key(s.relayer_key.get_secret_value())
        nonces = DatabaseMutex(self.db, f"relayer:{key.address.lower()}")
        relayer = Relayer(w3, key, confirmations=s.confirmations, nonce_lock=nonces)
        arbiter = None
        if s.arbiter_key is not None:
            arbiter_account = Account.from_key(s.arbiter_key.get_secret_value())
            arbiter = Relayer(w3, arbiter_account, confirmations=s.confirmations)
        escrow = Web3Escrow(
            w3, relayer, s.escrow_address, expected_chain_id=s.chain_id, arbiter=arbiter
        )
        self.startup.append(escrow.connect)
        self.shutdown.append(w3.provider.disconnect)
        self.notes.append(
            f"escrow: {s.escrow_address} on chain {s.chain_id} via {s.rpc_url} "
            f"(relayer {key.address}, {s.confirmations} confirmations)"
        )
        return escrow

    async def _start_dev(self, escrow: Web3Escrow) -> None:
        deployment = await self.dev.start()
        await escrow.connect(deployment.escrow)
        if self.watcher is not None:
            self.watcher.start_block = deployment.block
        self.notes.insert(
            0,
            f"chain: in-process development chain {escrow.chain_id} (py-evm, in memory): "
            f"escrow {deployment.escrow}, MockUSDC {deployment.token}",
        )

    def verifier(self) -> SignatureVerifier:
        """Real ECDSA recovery, except on the in-memory fakes (their fake signatures)."""
        if self.mode != "fake":
            return EthSignatureVerifier()
        from rigshare_dev.fakes.signatures import FakeSignatureVerifier

        return FakeSignatureVerifier()

    def wallet(self, escrow: EscrowPort) -> WalletPort:
        s, base = self.settings, self.settings.public_url
        if s.wc_project_id:
            return self._walletconnect(escrow)
        if self.mode == "fake":
            from rigshare_dev.fakes.wallet import FakeWallet

            self.notes.append("wallet: development wallet that signs on your behalf")
            return FakeWallet(self.background, auto_approve=self.auto_approve, base_url=base)
        from rigshare_dev.wallet import DevChainWallet

        faucet = self.dev.fund if self.dev is not None else None
        self.notes.append(
            "wallet: development wallets (real keys derived from DEV_WALLET_SEED) sign on your "
            + ("behalf, funded with 1,000 MockUSDC" if faucet else "behalf; fund them with USDC")
        )
        return DevChainWallet(
            self.background,
            seed=s.dev_wallet_seed,
            faucet=faucet,
            faucet_amount=DEV_FAUCET,
            balance_of=escrow.balance_of,  # every EscrowPort reads balances
            auto_approve=self.auto_approve,
            base_url=base,
        )

    def _walletconnect(self, escrow: EscrowPort) -> WalletPort:
        """The user's own wallet over WalletConnect v2 (WC_PROJECT_ID set); sessions are kept
        in the database, their keys encrypted with WALLET_KEY_SECRET (or a key file)."""
        s = self.settings
        if s.wallet_key_secret is not None:
            box = SecretBox.from_secret(s.wallet_key_secret.get_secret_value())
        else:
            box = SecretBox.from_key_file(s.data_dir)
        wallet = WalletConnectWallet(
            self.uow,
            self.clock,
            relay_url=s.wc_relay_url,
            project_id=s.wc_project_id,
            chain_id=lambda: escrow.chain_id,
            public_url=s.public_url,
            box=box,
        )
        self.startup.append(wallet.start)
        self.shutdown.append(wallet.stop)
        self.notes.append(
            f"wallet: WalletConnect via {s.wc_relay_url}; every request also has a signing page "
            f"at {s.public_url}/sign/..."
        )
        return wallet
