"""Repositories: the only place that writes SQL. They return and accept domain entities."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import tables
from core.domain.listings import ListingQuery, ListingStatus
from core.domain.model import (
    AgentCommandRecord,
    ChainEventRecord,
    EvidenceRecord,
    Listing,
    Machine,
    OutboxMessage,
    PendingSignature,
    Provider,
    Rental,
    Setting,
    User,
    WalletSession,
)
from core.domain.rentals import RentalState


@functools.cache
def _insert_or_ignore(dialect: str, table: Any, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, built once per dialect; values are passed
    as parameters so every call hits SQLAlchemy's compiled-statement cache."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return ins(table).on_conflict_do_nothing(index_elements=list(keys))


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

    async def create_or_get(self, user: User) -> User:
        """Insert ``user`` unless its (platform, external_id) is taken (two first messages
        of a new user handled at once); returns the stored user either way."""
        values = {c.name: getattr(user, c.name) for c in tables.users.columns if c.name != "id"}
        stmt = _insert_or_ignore(
            self.s.bind.dialect.name, tables.users, ("platform", "external_id")
        )
        await self.s.execute(stmt, values)
        return await self.by_external(user.platform, user.external_id)


class Providers(_Repo):
    async def get(self, provider_id: int) -> Provider | None:
        return await self.s.get(Provider, provider_id)

    async def by_user(self, user_id: int) -> Provider | None:
        q = select(Provider).where(tables.providers.c.user_id == user_id)
        return (await self.s.execute(q)).scalar_one_or_none()


class BeatState(NamedTuple):
    id: int
    status: str
    inventory_json: str
    last_heartbeat_at: int | None
    covered_seconds: int


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

    async def ids_by_token_hash(self, token_hashes: Sequence[str]) -> dict[str, int]:
        """Machine id of each of ``token_hashes`` that still belongs to a machine."""
        t = tables.machines.c
        q = select(t.agent_token_hash, t.id).where(t.agent_token_hash.in_(list(token_hashes)))
        return {h: i for h, i in (await self.s.execute(q)).all()}

    async def all_ids(self) -> list[int]:
        q = select(tables.machines.c.id).order_by(tables.machines.c.id)
        return list((await self.s.execute(q)).scalars().all())

    async def beat_states(self, token_hashes: Sequence[str]) -> dict[str, BeatState]:
        """What a heartbeat needs to know about each machine, by token hash, rows locked."""
        t = tables.machines.c
        q = select(
            t.agent_token_hash,
            t.id,
            t.status,
            t.inventory_json,
            t.last_heartbeat_at,
            t.covered_seconds,
        ).where(t.agent_token_hash.in_(list(token_hashes)))
        if self.s.bind.dialect.name == "postgresql":
            q = q.order_by(t.id).with_for_update()  # one lock order: no deadlocks
        rows = (await self.s.execute(q)).all()
        return {row[0]: BeatState(*row[1:]) for row in rows}

    async def apply_beats(self, beats: Sequence[dict]) -> None:
        """Write routine heartbeats (machine online, inventory unchanged) in one executemany.

        Each dict has ``b_id, b_at, b_covered, b_metrics, b_version, b_host, b_port, b_fp``.
        """
        if not beats:
            return
        t = tables.machines.c
        stmt = (
            update(tables.machines)
            .where(t.id == bindparam("b_id"), t.status == "online")
            .values(
                last_heartbeat_at=bindparam("b_at"),
                covered_seconds=bindparam("b_covered"),
                metrics_json=bindparam("b_metrics"),
                agent_version=bindparam("b_version"),
                ssh_host=bindparam("b_host"),
                ssh_port=bindparam("b_port"),
                host_key_fingerprint=bindparam("b_fp"),
            )
        )
        await self.s.execute(stmt, list(beats))

    async def set_token_hash(self, machine_id: int, token_hash: str) -> None:
        stmt = (
            update(tables.machines)
            .where(tables.machines.c.id == machine_id)
            .values(agent_token_hash=token_hash)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)


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

    async def response_samples(
        self, machine_id: int, limit: int = 50
    ) -> Sequence[tuple[int, int | None, int | None, str]]:
        """(funded_at, access_granted_at, started_at, state) of the machine's latest funded
        rentals, newest first."""
        t = tables.rentals.c
        q = (
            select(t.funded_at, t.access_granted_at, t.started_at, t.state)
            .where(t.machine_id == machine_id, t.funded_at.is_not(None))
            .order_by(t.id.desc())
            .limit(limit)
        )
        return [tuple(row) for row in (await self.s.execute(q)).all()]

    async def on_machine(self, machine_id: int, states: Sequence[str]) -> Sequence[int]:
        t = tables.rentals.c
        q = select(t.id).where(t.machine_id == machine_id, t.state.in_(list(states)))
        return list((await self.s.execute(q.order_by(t.id))).scalars().all())


class Outbox(_Repo):
    async def enqueue(self, msg: OutboxMessage) -> bool:
        """Insert unless a message with the same dedupe key exists; True if inserted."""
        values = {c.name: getattr(msg, c.name) for c in tables.outbox.columns if c.name != "id"}
        stmt = _insert_or_ignore(self.s.bind.dialect.name, tables.outbox, ("dedupe_key",))
        return (await self.s.execute(stmt, values)).rowcount == 1

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

    async def claim(
        self, platform: str, now: int, until: int, limit: int = 50
    ) -> list[tuple[OutboxMessage, User]]:
        """Lease due, unclaimed messages for ``platform``'s users until ``until``, oldest
        first, with their recipients. Each row is taken by a compare-and-set update, so two
        senders racing for the same rows never both get one."""
        o, u = tables.outbox.c, tables.users.c
        free = or_(o.claimed_until.is_(None), o.claimed_until <= now)
        q = (
            select(o.id)
            .join(tables.users, u.id == o.user_id)
            .where(o.sent_at.is_(None), o.next_attempt_at <= now, free, u.platform == platform)
            .order_by(o.id)
            .limit(limit)
            # PostgreSQL: a second sender skips the rows being claimed and takes the next ones
            .with_for_update(skip_locked=True, of=tables.outbox)
        )
        taken = []
        for outbox_id in (await self.s.execute(q)).scalars().all():
            stmt = (
                update(tables.outbox)
                .where(o.id == outbox_id, o.sent_at.is_(None), free)
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            if (await self.s.execute(stmt)).rowcount == 1:
                taken.append(outbox_id)
        if not taken:
            return []
        rows = await self.s.execute(
            select(OutboxMessage, User)
            .join(tables.users, u.id == o.user_id)
            .where(o.id.in_(taken))
            .order_by(o.id)
        )
        return [(m, user) for m, user in rows.all()]

    async def renew(self, outbox_id: int, held_until: int, until: int) -> bool:
        """Extend a claim to ``until`` if it is still the one that ends at ``held_until``
        (a claim taken over by another sender ends later: they never coincide)."""
        t = tables.outbox.c
        stmt = (
            update(tables.outbox)
            .where(t.id == outbox_id, t.sent_at.is_(None), t.claimed_until == held_until)
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount == 1

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
        stmt = _insert_or_ignore(
            self.s.bind.dialect.name, tables.chain_events, ("tx_hash", "log_index")
        )
        return (await self.s.execute(stmt, values)).rowcount == 1


class Signatures(_Repo):
    async def by_token(self, token: str) -> PendingSignature | None:
        """The request behind ``token``, locked for an update of its status."""
        q = (
            select(PendingSignature)
            .where(tables.pending_signatures.c.token == token)
            .with_for_update()
        )
        return (await self.s.execute(q)).scalar_one_or_none()

    async def get_by_token(self, token: str) -> PendingSignature | None:
        """The request behind ``token``, unlocked (read-only units of work)."""
        q = select(PendingSignature).where(tables.pending_signatures.c.token == token)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def expired(self, now: int, limit: int = 500) -> Sequence[PendingSignature]:
        """Requests still pending after their expiry, oldest first, locked."""
        t = tables.pending_signatures
        q = (
            select(PendingSignature)
            .where(t.c.status == "pending", t.c.expires_at < now)
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update()
        )
        return (await self.s.execute(q)).scalars().all()

    async def signed_unexpired(
        self, kinds: Sequence[str], now: int, limit: int = 500
    ) -> Sequence[PendingSignature]:
        """Signed requests of ``kinds`` whose authorization has not expired, oldest first."""
        t = tables.pending_signatures
        q = (
            select(PendingSignature)
            .where(t.c.status == "signed", t.c.expires_at >= now, t.c.kind.in_(list(kinds)))
            .order_by(t.c.id)
            .limit(limit)
        )
        return (await self.s.execute(q)).scalars().all()

    async def unanswered(
        self, now: int, created_before: int, limit: int = 500
    ) -> Sequence[PendingSignature]:
        """Requests still waiting for the wallet (not expired), created at or before
        ``created_before``, oldest first."""
        t = tables.pending_signatures
        q = (
            select(PendingSignature)
            .where(
                t.c.status == "pending",
                t.c.expires_at >= now,
                t.c.created_at <= created_before,
            )
            .order_by(t.c.id)
            .limit(limit)
        )
        return (await self.s.execute(q)).scalars().all()


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


class AgentCommands(_Repo):
    async def append(self, cmd: AgentCommandRecord, attempts: int = 5) -> AgentCommandRecord:
        """Insert with the machine's next seq; a concurrent writer that took it makes us retry.

        Raises IntegrityError if the seq stays contended after ``attempts`` tries.
        """
        t = tables.agent_commands.c
        for attempt in range(attempts):
            q = select(func.coalesce(func.max(t.seq), 0)).where(t.machine_id == cmd.machine_id)
            cmd.seq = int((await self.s.execute(q)).scalar_one()) + 1
            try:
                async with self.s.begin_nested():
                    self.s.add(cmd)
                    await self.s.flush()
                return cmd
            except IntegrityError:
                if cmd in self.s:
                    self.s.expunge(cmd)
                if attempt == attempts - 1:
                    raise
        return cmd

    async def get(self, command_id: int) -> AgentCommandRecord | None:
        return await self.s.get(AgentCommandRecord, command_id)

    async def pending(
        self, machine_id: int, after_seq: int, now: int, limit: int
    ) -> Sequence[AgentCommandRecord]:
        """Commands without a result, newer than ``after_seq`` and not stale, in seq order."""
        t = tables.agent_commands.c
        q = (
            select(AgentCommandRecord)
            .where(
                t.machine_id == machine_id,
                t.seq > after_seq,
                t.done_at.is_(None),
                t.expires_at >= now,
            )
            .order_by(t.seq)
            .limit(limit)
        )
        return (await self.s.execute(q)).scalars().all()

    async def machines_with_open(self, now: int) -> set[int]:
        """Machines that have commands without a result that are not stale yet."""
        t = tables.agent_commands.c
        q = select(t.machine_id).where(t.done_at.is_(None), t.expires_at >= now).distinct()
        return set((await self.s.execute(q)).scalars().all())

    async def has_open(self, machine_id: int, now: int) -> bool:
        t = tables.agent_commands.c
        q = (
            select(t.id)
            .where(t.machine_id == machine_id, t.done_at.is_(None), t.expires_at >= now)
            .limit(1)
        )
        return (await self.s.execute(q)).first() is not None

    async def mark_delivered(self, ids: Sequence[int], now: int) -> None:
        t = tables.agent_commands.c
        stmt = (
            update(tables.agent_commands)
            .where(t.id.in_(list(ids)), t.delivered_at.is_(None))
            .values(delivered_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.s.execute(stmt)

    async def complete(self, command_id: int, result_json: str, now: int) -> bool:
        """Store the result unless one is stored already; True for the first result only."""
        t = tables.agent_commands.c
        stmt = (
            update(tables.agent_commands)
            .where(t.id == command_id, t.done_at.is_(None))
            .values(result_json=result_json, done_at=now)
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(stmt)).rowcount == 1

    async def for_rental(self, rental_id: int) -> Sequence[AgentCommandRecord]:
        t = tables.agent_commands.c
        q = select(AgentCommandRecord).where(t.rental_id == rental_id).order_by(t.seq)
        return (await self.s.execute(q)).scalars().all()

    async def unrevoked_grants(
        self, states: Sequence[str], ended_since: int
    ) -> list[tuple[int, int]]:
        """(rental id, machine id) of rentals in ``states`` that ended (or were closed) at
        or after ``ended_since`` and had access granted, but were never sent a revoke."""
        t, r = tables.agent_commands.c, tables.rentals.c
        revoke = tables.agent_commands.alias("revoke")
        q = (
            select(t.rental_id, t.machine_id)
            .join(tables.rentals, r.id == t.rental_id)
            .where(
                t.kind == "grant",
                r.state.in_(list(states)),
                func.coalesce(r.ended_at, r.settled_at) >= ended_since,
                ~select(revoke.c.id)
                .where(revoke.c.rental_id == t.rental_id, revoke.c.kind == "revoke")
                .exists(),
            )
            .distinct()
        )
        return [tuple(row) for row in (await self.s.execute(q)).all()]

    async def max_id(self) -> int:
        q = select(func.coalesce(func.max(tables.agent_commands.c.id), 0))
        return int((await self.s.execute(q)).scalar_one())

    async def created_after(self, last_id: int, limit: int = 1000) -> Sequence[tuple[int, int]]:
        """(id, machine_id) of commands inserted after ``last_id``, oldest first."""
        t = tables.agent_commands.c
        q = select(t.id, t.machine_id).where(t.id > last_id).order_by(t.id).limit(limit)
        return [tuple(row) for row in (await self.s.execute(q)).all()]


class Evidence(_Repo):
    async def for_rental(self, rental_id: int) -> Sequence[EvidenceRecord]:
        t = tables.agent_evidence.c
        q = select(EvidenceRecord).where(t.rental_id == rental_id).order_by(t.at, t.id)
        return (await self.s.execute(q)).scalars().all()


class GpuSamples(_Repo):
    """Per-minute GPU samples of each machine (``gpus_json``: [[util %, temp °C], ...])."""

    async def record(self, rows: Sequence[dict]) -> None:
        """Insert ``{"machine_id", "minute", "gpus_json"}`` rows; a minute already sampled
        keeps its first sample."""
        if rows:
            stmt = _insert_or_ignore(
                self.s.bind.dialect.name, tables.gpu_samples, ("machine_id", "minute")
            )
            await self.s.execute(stmt, list(rows))

    async def since(self, machine_id: int, minute: int) -> list[tuple[int, str]]:
        t = tables.gpu_samples.c
        q = (
            select(t.minute, t.gpus_json)
            .where(t.machine_id == machine_id, t.minute >= minute)
            .order_by(t.minute)
        )
        return [(m, j) for m, j in (await self.s.execute(q)).all()]

    async def prune(self, before_minute: int) -> int:
        t = tables.gpu_samples.c
        stmt = delete(tables.gpu_samples).where(t.minute < before_minute)
        return (await self.s.execute(stmt)).rowcount or 0


class WalletSessions(_Repo):
    """One WalletConnect link per user (``user_id`` is unique)."""

    async def get(self, user_id: int) -> WalletSession | None:
        q = select(WalletSession).where(tables.wallet_sessions.c.user_id == user_id)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def all(self) -> Sequence[WalletSession]:
        q = select(WalletSession).order_by(tables.wallet_sessions.c.user_id)
        return (await self.s.execute(q)).scalars().all()

    async def for_users(self, user_ids: Sequence[int]) -> Sequence[WalletSession]:
        q = select(WalletSession).where(tables.wallet_sessions.c.user_id.in_(user_ids))
        return (await self.s.execute(q)).scalars().all()

    async def remove(self, user_id: int) -> bool:
        stmt = delete(tables.wallet_sessions).where(tables.wallet_sessions.c.user_id == user_id)
        return bool((await self.s.execute(stmt)).rowcount)
