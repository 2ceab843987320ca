"""Repositories: the only place that writes SQL. They return and accept domain entities."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import tables
from core.domain.listings import ListingQuery, ListingStatus
from core.domain.model import (
    ChainEventRecord,
    Listing,
    Machine,
    OutboxMessage,
    PendingSignature,
    Provider,
    Rental,
    Setting,
    User,
)
from core.domain.rentals import RentalState


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def add(self, entity: object) -> None:
        self.s.add(entity)

    async def flush(self) -> None:
        await self.s.flush()


class Users(_Repo):
    async def get(self, user_id: int) -> User | None:
        return await self.s.get(User, user_id)

    async def by_external(self, platform: str, external_id: str) -> User | None:
        q = select(User).where(
            tables.users.c.platform == platform, tables.users.c.external_id == external_id
        )
        return (await self.s.execute(q)).scalar_one_or_none()


class Providers(_Repo):
    async def get(self, provider_id: int) -> Provider | None:
        return await self.s.get(Provider, provider_id)

    async def by_user(self, user_id: int) -> Provider | None:
        q = select(Provider).where(tables.providers.c.user_id == user_id)
        return (await self.s.execute(q)).scalar_one_or_none()


class Machines(_Repo):
    async def get(self, machine_id: int) -> Machine | None:
        return await self.s.get(Machine, machine_id)

    async def by_token_hash(self, token_hash: str) -> Machine | None:
        q = select(Machine).where(tables.machines.c.agent_token_hash == token_hash)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def for_provider(self, provider_id: int) -> Sequence[Machine]:
        q = select(Machine).where(tables.machines.c.provider_id == provider_id)
        return (await self.s.execute(q.order_by(tables.machines.c.id))).scalars().all()

    async def by_name(self, provider_id: int, name: str) -> Machine | None:
        t = tables.machines.c
        q = select(Machine).where(t.provider_id == provider_id, func.lower(t.name) == name.lower())
        return (await self.s.execute(q)).scalar_one_or_none()

    async def silent_since(self, cutoff: int) -> Sequence[Machine]:
        t = tables.machines.c
        q = select(Machine).where(t.status == "online", t.last_heartbeat_at < cutoff)
        return (await self.s.execute(q)).scalars().all()


class Listings(_Repo):
    async def get(self, listing_id: int) -> Listing | None:
        return await self.s.get(Listing, listing_id)

    async def for_machine(self, machine_id: int) -> Sequence[Listing]:
        q = select(Listing).where(tables.listings.c.machine_id == machine_id)
        return (await self.s.execute(q.order_by(tables.listings.c.id))).scalars().all()

    async def search(self, query: ListingQuery, now: int) -> Sequence[Listing]:
        """Offerable listings matching the query, best first, one page."""
        t = tables.listings.c
        # Only AVAILABLE rows: the keeper releases expired holds, and a plain equality keeps
        # every search on an index (an OR over held rows made SQLite scan the table).
        conds = [t.status == ListingStatus.AVAILABLE]
        if query.model:
            conds.append(t.gpu_model == query.model)
        if query.gpu_count:
            conds.append(t.gpu_count == query.gpu_count)
        # Range filters are written as "column + 0": the expression cannot select an index,
        # so the planner walks the index of the sort order and stops at the page instead of
        # range-scanning a filter's index and sorting every match (SQLite's documented idiom;
        # harmless on PostgreSQL).
        if query.min_vram_gb:
            conds.append(t.vram_gb + 0 >= query.min_vram_gb)
        if query.max_price_per_hour is not None:
            conds.append(t.price_per_hour + 0 <= query.max_price_per_hour)
        if query.region:
            conds.append(t.region == query.region)
        if query.min_reliability_bps:
            conds.append(t.reliability_bps + 0 >= query.min_reliability_bps)
        if query.verified_only:
            conds.append(t.verified.is_(True))
        if query.exclude_ids:
            conds.append(t.id.not_in(list(query.exclude_ids)))
        sort = query.sort
        if sort == "vram" and query.model:
            sort = "price"  # one model has one VRAM size: the order is the price order
        # "best": effective price = price / reliability (see quote_score), computed in SQL;
        # reliability is stored clamped to >= 100 bps so the division is always defined
        effective = t.price_per_hour * 10_000 / t.reliability_bps
        order = {
            "best": [effective, t.reliability_bps.desc()],
            "price": [t.price_per_hour, t.reliability_bps.desc()],
            "reliability": [t.reliability_bps.desc(), t.price_per_hour],
            "vram": [t.vram_gb.desc(), t.price_per_hour],
        }[sort]
        q = select(Listing).where(*conds).order_by(*order, t.id)
        q = q.offset(query.offset).limit(query.limit)
        return (await self.s.execute(q)).scalars().all()

    async def count_offerable(self, query: ListingQuery, now: int) -> int:
        t = tables.listings.c
        q = (
            select(func.count())
            .select_from(tables.listings)
            .where(t.status == ListingStatus.AVAILABLE)
        )
        if query.model:
            q = q.where(t.gpu_model == query.model)
        return int((await self.s.execute(q)).scalar_one())

    async def try_hold(self, listing_id: int, rental_id: int, now: int, until: int) -> bool:
        """Atomically hold a free listing for a rental; False if someone else has it.

        One conditional UPDATE: the database serialises concurrent holders on the row, so of
        any number of concurrent callers at most one sees rowcount 1.
        """
        t = tables.listings.c
        stmt = (
            update(tables.listings)
            .where(
                t.id == listing_id,
                or_(
                    t.status == ListingStatus.AVAILABLE,
                    and_(t.status == ListingStatus.HELD, t.hold_until < now),
                ),
            )
            .values(status=ListingStatus.HELD, held_by_rental_id=rental_id, hold_until=until)
            .execution_options(synchronize_session=False)
        )
        result = await self.s.execute(stmt)
        return result.rowcount == 1

    async def set_status_for_rental(
        self, listing_id: int, rental_id: int, status: ListingStatus
    ) -> bool:
        """Change the status of a listing only while ``rental_id`` holds it."""
        t = tables.listings.c
        values: dict = {"status": status}
        if status in (ListingStatus.AVAILABLE,):
            values.update(held_by_rental_id=None, hold_until=None)
        stmt = (
            update(tables.listings)
            .where(t.id == listing_id, t.held_by_rental_id == rental_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount == 1

    async def set_status_for_machine(
        self, machine_id: int, from_statuses: Sequence[str], to_status: str
    ) -> int:
        t = tables.listings.c
        stmt = (
            update(tables.listings)
            .where(t.machine_id == machine_id, t.status.in_(list(from_statuses)))
            .values(status=to_status)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount

    async def set_reliability_for_machine(self, machine_id: int, bps: int) -> None:
        stmt = (
            update(tables.listings)
            .where(tables.listings.c.machine_id == machine_id)
            .values(reliability_bps=max(100, bps))
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)


class Rentals(_Repo):
    async def get(self, rental_id: int, *, for_update: bool = False) -> Rental | None:
        if for_update:
            q = select(Rental).where(tables.rentals.c.id == rental_id).with_for_update()
            return (await self.s.execute(q)).scalar_one_or_none()
        return await self.s.get(Rental, rental_id)

    async def by_escrow_id(self, escrow_id: str) -> Rental | None:
        q = select(Rental).where(tables.rentals.c.escrow_id == escrow_id)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def for_renter(
        self, renter_id: int, states: Sequence[str] | None = None, limit: int = 50
    ) -> Sequence[Rental]:
        t = tables.rentals.c
        q = select(Rental).where(t.renter_id == renter_id)
        if states:
            q = q.where(t.state.in_(list(states)))
        return (await self.s.execute(q.order_by(t.id.desc()).limit(limit))).scalars().all()

    async def for_provider(
        self, provider_id: int, states: Sequence[str] | None = None
    ) -> Sequence[Rental]:
        t = tables.rentals.c
        q = select(Rental).where(t.provider_id == provider_id)
        if states:
            q = q.where(t.state.in_(list(states)))
        return (await self.s.execute(q.order_by(t.id.desc()))).scalars().all()

    async def in_states(self, states: Sequence[str], limit: int = 500) -> Sequence[Rental]:
        t = tables.rentals.c
        q = select(Rental).where(t.state.in_(list(states))).order_by(t.id).limit(limit)
        return (await self.s.execute(q)).scalars().all()

    async def stats_for_machine(self, machine_id: int) -> tuple[int, int, int, int]:
        """(completed rentals, disputes lost, rating sum, rating count) for reliability."""
        t = tables.rentals.c
        q = select(
            func.count().filter(t.state == RentalState.SETTLED),
            func.count().filter(t.dispute_outcome == "renter"),
            func.coalesce(func.sum(t.rating), 0),
            func.count(t.rating),
        ).where(t.machine_id == machine_id)
        row = (await self.s.execute(q)).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])


class Outbox(_Repo):
    async def enqueue(self, msg: OutboxMessage) -> bool:
        """Insert unless a message with the same dedupe key exists; True if inserted."""
        values = {c.name: getattr(msg, c.name) for c in tables.outbox.columns if c.name != "id"}
        dialect = self.s.bind.dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            ins(tables.outbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        return (await self.s.execute(stmt)).rowcount == 1

    async def due(self, now: int, limit: int = 100) -> Sequence[OutboxMessage]:
        t = tables.outbox.c
        q = (
            select(OutboxMessage)
            .where(t.sent_at.is_(None), t.next_attempt_at <= now)
            .order_by(t.id)
            .limit(limit)
        )
        return (await self.s.execute(q)).scalars().all()

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return await self.s.get(OutboxMessage, outbox_id)

    async def release(self, dedupe_key: str, now: int) -> None:
        """Make a held message due now."""
        t = tables.outbox.c
        stmt = (
            update(tables.outbox)
            .where(t.dedupe_key == dedupe_key, t.sent_at.is_(None))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def discard(self, dedupe_key: str) -> None:
        """Drop an unsent message (a key for access that never happened)."""
        t = tables.outbox.c
        stmt = (
            delete(tables.outbox)
            .where(t.dedupe_key == dedupe_key, t.sent_at.is_(None))
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def for_user(self, user_id: int) -> Sequence[OutboxMessage]:
        t = tables.outbox.c
        q = select(OutboxMessage).where(t.user_id == user_id).order_by(t.id)
        return (await self.s.execute(q)).scalars().all()


class ChainEvents(_Repo):
    async def record(self, ev: ChainEventRecord) -> bool:
        """Insert the event unless (tx_hash, log_index) was applied before; True if new."""
        values = {
            c.name: getattr(ev, c.name) for c in tables.chain_events.columns if c.name != "id"
        }
        dialect = self.s.bind.dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = (
            ins(tables.chain_events)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tx_hash", "log_index"])
        )
        return (await self.s.execute(stmt)).rowcount == 1


class Signatures(_Repo):
    async def by_token(self, token: str) -> PendingSignature | None:
        q = (
            select(PendingSignature)
            .where(tables.pending_signatures.c.token == token)
            .with_for_update()
        )
        return (await self.s.execute(q)).scalar_one_or_none()


class Settings(_Repo):
    async def get_value(self, key: str) -> str | None:
        row = await self.s.get(Setting, key)
        return row.value if row else None

    async def set_value(self, key: str, value: str) -> None:
        row = await self.s.get(Setting, key)
        if row is None:
            self.s.add(Setting(key=key, value=value))
        else:
            row.value = value
