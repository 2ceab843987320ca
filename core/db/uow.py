"""SQLAlchemy unit of work: one AsyncSession per use case, never shared between tasks."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import repositories as r
from core.db.commands import AgentCommands, Evidence
from core.db.engine import Database
from core.db.gpus import MachineGpus, MachineTemplates
from core.db.listings import Listings
from core.db.machines import GpuSamples, Machines
from core.db.payouts import HeldPayouts
from core.db.probes import MachineProbes
from core.db.processed import ProcessedUpdates
from core.db.rentals import Rentals
from core.repo_ports import UnitOfWork, UowFactory


class SqlAlchemyUnitOfWork:
    """``async with uow: ...; await uow.commit()`` — leaving without commit rolls back."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = session_factory
        self.session: AsyncSession | None = None

    async def __aenter__(self) -> SqlAlchemyUnitOfWork:
        s = self.session = self._factory()
        self.users = r.Users(s)
        self.providers = r.Providers(s)
        self.machines = Machines(s)
        self.gpus = MachineGpus(s)
        self.templates = MachineTemplates(s)
        self.listings = Listings(s)
        self.rentals = Rentals(s)
        self.outbox = r.Outbox(s)
        self.chain_events = r.ChainEvents(s)
        self.signatures = r.Signatures(s)
        self.settings = r.Settings(s)
        self.agent_commands = AgentCommands(s)
        self.evidence = Evidence(s)
        self.wallet_sessions = r.WalletSessions(s)
        self.gpu_samples = GpuSamples(s)
        self.processed_updates = ProcessedUpdates(s)
        self.payouts = HeldPayouts(s)
        self.probes = MachineProbes(s)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.session is not None
        # close() rolls back whatever was not committed and detaches the entities without
        # expiring them, so callers can still read what they loaded
        try:
            await self.session.close()
        finally:
            self.session = None

    async def commit(self) -> None:
        assert self.session is not None
        await self.session.commit()

    async def flush(self) -> None:
        assert self.session is not None
        await self.session.flush()


class SqlAlchemyUowFactory:
    """Builds units of work: ``factory()`` for writes, ``factory(readonly=True)`` for reads,
    ``factory(one_statement=True)`` for a write of one statement (``Database.sessions``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._write = db.sessions()
        self._read = db.sessions(readonly=True)
        self._one = db.sessions(one_statement=True)

    def __call__(
        self, *, readonly: bool = False, one_statement: bool = False
    ) -> SqlAlchemyUnitOfWork:
        if readonly:
            return SqlAlchemyUnitOfWork(self._read)
        return SqlAlchemyUnitOfWork(self._one if one_statement else self._write)


def _satisfies_ports(uow: SqlAlchemyUnitOfWork, factory: SqlAlchemyUowFactory) -> None:
    """Never called: mypy checks here that these classes are the ports' implementations
    (a repository method whose signature drifts from core.repo_ports fails the type check)."""
    _uow: UnitOfWork = uow
    _factory: UowFactory = factory
