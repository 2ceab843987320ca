"""An in-memory unit of work for fast service tests: the ports of core/repo_ports.py on dicts.

Semantics the services rely on, kept as the SQLAlchemy unit of work keeps them:
- each unit of work works on its own copy of the committed rows (copy on begin), so leaving
  without ``commit`` leaves no trace and an entity changed in place is only stored by a commit;
- ``commit`` writes back only the rows this unit of work added, changed or deleted, so two
  units of work that touched different rows both keep their changes;
- ``add`` stages an entity and ``flush`` (or a query, or the commit) gives it the next id of
  its table, as the database's autoincrement does.

It implements the repositories the users, key-value and receipts services use (and what their tests seed with);
a service that calls anything else fails with AttributeError, never with a silent default.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from core.domain.model import (
    HeldPayout,
    Listing,
    Machine,
    OutboxMessage,
    Provider,
    Rental,
    Setting,
    User,
)
from core.domain.signatures import PendingSignature

Rows = dict[Any, Any]


def _copy(entity: Any) -> Any:
    # JSON fields hold lists and dicts: copied deep, so a service that kept a reference cannot
    # change the stored row without an update (replace() builds a fresh entity, no ORM state)
    fields = [f for f in dataclasses.fields(entity) if f.init]
    values = {f.name: copy.deepcopy(getattr(entity, f.name)) for f in fields}
    return dataclasses.replace(entity, **values)


def _fields(entity: Any) -> tuple[Any, ...]:
    return tuple(getattr(entity, f.name) for f in dataclasses.fields(entity))


class MemoryStore:
    """The "database": committed rows per table and each table's last id."""

    def __init__(self) -> None:
        self.tables: dict[str, Rows] = {}
        self.last_id: dict[str, int] = {}
        self.commits = 0


class _Table:
    """One table inside a unit of work: its working rows and the entities staged by ``add``."""

    name = ""

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self.uow = uow

    @staticmethod
    def key(entity: Any) -> Any:
        return entity.id

    @property
    def rows(self) -> Rows:
        self.uow.flush_now()  # queries see what was added, as SQLAlchemy's autoflush does
        return self.uow.work[self.name]

    def add(self, entity: Any) -> None:
        self.uow.pending.append((self, entity))

    def where(self, test: Callable[[Any], bool], *, newest_first: bool = False) -> list[Any]:
        hits = sorted((e for e in self.rows.values() if test(e)), key=self.key)
        return hits[::-1] if newest_first else hits

    def one(self, test: Callable[[Any], bool]) -> Any:
        hits = self.where(test)
        return hits[0] if hits else None


class MemoryUsers(_Table):
    name = "users"

    async def get(self, user_id: int) -> User | None:
        return self.rows.get(user_id)

    async def by_external(self, platform: str, external_id: str) -> User | None:
        return self.one(lambda u: (u.platform, u.external_id) == (platform, external_id))

    async def create_or_get(self, user: User) -> User:
        found = await self.by_external(user.platform, user.external_id)
        if found is not None:
            return found
        self.add(user)
        self.uow.flush_now()
        return user


class MemoryProviders(_Table):
    name = "providers"

    async def get(self, provider_id: int) -> Provider | None:
        return self.rows.get(provider_id)

    async def by_user(self, user_id: int) -> Provider | None:
        return self.one(lambda p: p.user_id == user_id)


class MemoryMachines(_Table):
    name = "machines"

    async def get(self, machine_id: int) -> Machine | None:
        return self.rows.get(machine_id)

    async def by_token_hash(self, token_hash: str) -> Machine | None:
        return self.one(lambda m: m.agent_token_hash == token_hash)

    async def for_provider(self, provider_id: int) -> Sequence[Machine]:
        return self.where(lambda m: m.provider_id == provider_id)

    async def by_name(self, provider_id: int, name: str) -> Machine | None:
        return self.one(lambda m: (m.provider_id, m.name) == (provider_id, name))


class MemoryListings(_Table):
    name = "listings"

    async def get(self, listing_id: int) -> Listing | None:
        return self.rows.get(listing_id)

    async def for_machine(self, machine_id: int) -> Sequence[Listing]:
        return self.where(lambda x: x.machine_id == machine_id)


class MemoryRentals(_Table):
    name = "rentals"

    async def get(self, rental_id: int, *, for_update: bool = False) -> Rental | None:
        return self.rows.get(rental_id)  # one process, no concurrent writer: no lock to take

    async def by_escrow_id(self, escrow_id: str) -> Rental | None:
        return self.one(lambda r: r.escrow_id == escrow_id)

    async def for_renter(
        self, renter_id: int, states: Sequence[str] | None = None, limit: int = 50
    ) -> Sequence[Rental]:
        hits = self.where(
            lambda r: r.renter_id == renter_id and (not states or r.state in states),
            newest_first=True,
        )
        return hits[:limit]

    async def for_provider(
        self, provider_id: int, states: Sequence[str] | None = None
    ) -> Sequence[Rental]:
        return self.where(
            lambda r: r.provider_id == provider_id and (not states or r.state in states),
            newest_first=True,
        )

    async def in_states(self, states: Sequence[str], limit: int = 500) -> Sequence[Rental]:
        return self.where(lambda r: r.state in states)[:limit]

    async def on_machine(self, machine_id: int, states: Sequence[str]) -> Sequence[int]:
        return [
            r.id for r in self.where(lambda r: r.machine_id == machine_id and r.state in states)
        ]


class MemoryOutbox(_Table):
    name = "outbox"

    async def enqueue(self, msg: OutboxMessage) -> bool:
        if self.one(lambda m: m.dedupe_key == msg.dedupe_key) is not None:
            return False
        self.add(msg)
        return True

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return self.rows.get(outbox_id)

    async def unsent(self, dedupe_key: str) -> OutboxMessage | None:
        return self.one(lambda m: m.dedupe_key == dedupe_key and m.sent_at is None)

    async def discard(self, dedupe_key: str) -> None:
        for m in self.where(lambda m: m.dedupe_key == dedupe_key and m.sent_at is None):
            del self.rows[m.id]

    async def for_user(self, user_id: int) -> Sequence[OutboxMessage]:
        return self.where(lambda m: m.user_id == user_id)


class MemorySignatures(_Table):
    name = "signatures"

    async def by_token(self, token: str) -> PendingSignature | None:
        return self.one(lambda p: p.token == token)

    get_by_token = by_token


class MemorySettings(_Table):
    name = "settings"

    @staticmethod
    def key(entity: Any) -> Any:
        return entity.key

    async def get_value(self, key: str) -> str | None:
        row = self.rows.get(key)
        return row.value if row else None

    async def set_value(self, key: str, value: str) -> None:
        row = self.rows.get(key)
        if row is None:
            self.rows[key] = Setting(key, value)
        else:
            row.value = value


class MemoryPayouts(_Table):
    name = "payouts"

    async def for_rentals(self, rental_ids: Sequence[int]) -> list[HeldPayout]:
        return self.where(lambda p: p.rental_id in rental_ids)

    async def for_user(self, user_id: int, role: str) -> list[HeldPayout]:
        return self.where(lambda p: (p.user_id, p.role) == (user_id, role))

    async def held_for(self, address: str) -> list[HeldPayout]:
        return self.where(lambda p: p.address == address and p.status == "held")


_TABLES: tuple[type[_Table], ...] = (
    MemoryUsers,
    MemoryProviders,
    MemoryMachines,
    MemoryListings,
    MemoryRentals,
    MemoryOutbox,
    MemorySignatures,
    MemorySettings,
    MemoryPayouts,
)


class MemoryUnitOfWork:
    """``async with uow: ...; await uow.commit()`` on a MemoryStore."""

    def __init__(self, store: MemoryStore, *, readonly: bool = False) -> None:
        self.store = store
        self.readonly = readonly
        self.work: dict[str, Rows] = {}
        self.begun: dict[str, Rows] = {}
        self.pending: list[tuple[_Table, Any]] = []
        self.users = MemoryUsers(self)
        self.providers = MemoryProviders(self)
        self.machines = MemoryMachines(self)
        self.listings = MemoryListings(self)
        self.rentals = MemoryRentals(self)
        self.outbox = MemoryOutbox(self)
        self.signatures = MemorySignatures(self)
        self.settings = MemorySettings(self)
        self.payouts = MemoryPayouts(self)

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
        names = [t.name for t in _TABLES]
        self.begun = {n: {k: _fields(e) for k, e in committed.get(n, {}).items()} for n in names}
        self.work = {n: {k: _copy(e) for k, e in committed.get(n, {}).items()} for n in names}
        self.pending = []

    def flush_now(self) -> None:
        staged, self.pending = self.pending, []
        for table, entity in staged:
            if getattr(entity, "id", 0) is None:
                last = self.store.last_id.get(table.name, 0) + 1
                # ids are taken at flush and never reused, even when the transaction rolls
                # back (a database sequence behaves the same)
                self.store.last_id[table.name] = last
                entity.id = last
            self.work[table.name][table.key(entity)] = entity

    async def flush(self) -> None:
        self.flush_now()

    async def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.flush_now()
        for name, rows in self.work.items():
            stored = self.store.tables.setdefault(name, {})
            before = self.begun[name]
            for key, entity in rows.items():
                if key not in before or _fields(entity) != before[key]:
                    stored[key] = _copy(entity)
            for key in before.keys() - rows.keys():
                stored.pop(key, None)
        self.store.commits += 1
        # the entities stay in hand (a session keeps them after a commit); later changes
        # are measured from here
        self.begun = {n: {k: _fields(e) for k, e in rows.items()} for n, rows in self.work.items()}


class MemoryUowFactory:
    """``factory()`` / ``factory(readonly=True)`` like SqlAlchemyUowFactory, on one store."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, readonly: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, readonly=readonly)
