"""The in-memory unit of work: each repository of it a table of a MemoryStore."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tests.fakes.memory_uow.accounts import (
    MemoryOutbox,
    MemoryPayouts,
    MemoryProviders,
    MemorySettings,
    MemorySignatures,
    MemoryUsers,
)
from tests.fakes.memory_uow.listings import MemoryListings
from tests.fakes.memory_uow.machines import MemoryGpus, MemoryMachines, MemoryTemplates
from tests.fakes.memory_uow.rentals import MemoryEvidence, MemoryGpuSamples, MemoryRentals
from tests.fakes.memory_uow.store import MemoryStore, Rows, Table, copy_of, fields_of


class MemoryUnitOfWork:
    """``async with uow: ...; await uow.commit()`` on a MemoryStore."""

    def __init__(self, store: MemoryStore, *, readonly: bool = False) -> None:
        self.store = store
        self.readonly = readonly
        self.work: dict[str, Rows] = {}
        self.begun: dict[str, Rows] = {}
        self.pending: list[tuple[Table, Any]] = []
        self.users = MemoryUsers(self)
        self.providers = MemoryProviders(self)
        self.machines = MemoryMachines(self)
        self.gpus = MemoryGpus(self)
        self.templates = MemoryTemplates(self)
        self.listings = MemoryListings(self)
        self.rentals = MemoryRentals(self)
        self.outbox = MemoryOutbox(self)
        self.signatures = MemorySignatures(self)
        self.settings = MemorySettings(self)
        self.evidence = MemoryEvidence(self)
        self.gpu_samples = MemoryGpuSamples(self)
        self.payouts = MemoryPayouts(self)
        self.tables: dict[str, Table] = {
            t.name: t for t in vars(self).values() if isinstance(t, Table)
        }

    async def __aenter__(self) -> MemoryUnitOfWork:
        self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # like closing a session: whatever was not committed is dropped
        self.work, self.begun, self.pending = {}, {}, []

    def _begin(self) -> None:
        committed = self.store.tables
        self.begun = {
            n: {k: fields_of(e) for k, e in committed.get(n, {}).items()} for n in self.tables
        }
        self.work = {
            n: {k: copy_of(e) for k, e in committed.get(n, {}).items()} for n in self.tables
        }
        self.pending = []

    def flush_now(self) -> None:
        staged, self.pending = self.pending, []
        for table, entity in staged:
            rows = self.work[table.name]
            table.check_unique(entity, rows)
            if getattr(entity, "id", 0) is None:
                last = self.store.last_id.get(table.name, 0) + 1
                # ids are taken at flush and never reused, even when the transaction rolls
                # back (a database sequence behaves the same)
                self.store.last_id[table.name] = last
                entity.id = last
            rows[table.key(entity)] = entity

    async def flush(self) -> None:
        self.flush_now()

    async def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.flush_now()
        changed: dict[str, dict[Any, Any]] = {}
        for name, rows in self.work.items():
            before = self.begun[name]
            changed[name] = {
                key: entity
                for key, entity in rows.items()
                if key not in before or fields_of(entity) != before[key]
            }
            for entity in changed[name].values():  # a change in place may break one too
                self.tables[name].check_unique(entity, rows)
        for name, rows in self.work.items():
            stored = self.store.tables.setdefault(name, {})
            for key, entity in changed[name].items():
                stored[key] = copy_of(entity)
            for key in self.begun[name].keys() - rows.keys():
                stored.pop(key, None)
        self.store.commits += 1
        # the entities stay in hand (a session keeps them after a commit); later changes
        # are measured from here
        self.begun = {
            n: {k: fields_of(e) for k, e in rows.items()} for n, rows in self.work.items()
        }


class MemoryUowFactory:
    """``factory()`` / ``factory(readonly=True)`` like SqlAlchemyUowFactory, on one store."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, readonly: bool = False, one_statement: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, readonly=readonly)  # one write or many: the same
