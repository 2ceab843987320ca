"""Repositories: the only place that writes SQL. They return and accept domain entities."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import bindparam, delete, or_, select, true, update

from core.db import tables
from core.db.mapping import row_values
from core.db.repo_base import Repo as _Repo
from core.db.repo_base import by_key
from core.db.repo_base import insert_or_ignore as _insert_or_ignore
from core.db.repo_base import rowcount as _rowcount
from core.db.repo_base import upsert as _upsert
from core.domain.model import (
    ChainEventRecord,
    OutboxMessage,
    Provider,
    User,
    WalletSession,
)
from core.domain.signatures import PendingSignature


class Users(_Repo):
    async def get(self, user_id: int) -> User | None:
        return await by_key(self.s, User, user_id)

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
        stored = await self.by_external(user.platform, user.external_id)
        if stored is None:  # inserted or already there: the row exists in this transaction
            raise RuntimeError(f"user {user.platform}:{user.external_id} vanished on insert")
        return stored


class Providers(_Repo):
    async def get(self, provider_id: int) -> Provider | None:
        return await self.s.get(Provider, provider_id)

    async def by_user(self, user_id: int) -> Provider | None:
        q = select(Provider).where(tables.providers.c.user_id == user_id)
        return (await self.s.execute(q)).scalar_one_or_none()


class Outbox(_Repo):
    async def enqueue(self, msg: OutboxMessage) -> bool:
        """Insert unless a message with the same dedupe key exists; True if inserted."""
        values = row_values(msg, tables.outbox)
        stmt = _insert_or_ignore(self.s.bind.dialect.name, tables.outbox, ("dedupe_key",))
        return _rowcount(await self.s.execute(stmt, values)) == 1

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
        self,
        platform: str,
        now: int,
        until: int,
        limit: int = 50,
        user_ids: Collection[int] | None = None,
    ) -> list[tuple[OutboxMessage, User]]:
        """Lease due, unclaimed messages for ``platform``'s users (of ``user_ids`` when
        given) until ``until``, oldest first, with their recipients. Each row is taken by a
        compare-and-set update, so two senders racing for the same rows never both get one."""
        o, u = tables.outbox.c, tables.users.c
        free = or_(o.claimed_until.is_(None), o.claimed_until <= now)
        q = (
            select(o.id)
            .join(tables.users, u.id == o.user_id)
            .where(o.sent_at.is_(None), o.next_attempt_at <= now, free, u.platform == platform)
            .where(o.user_id.in_(list(user_ids)) if user_ids is not None else true())
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
            if _rowcount(await self.s.execute(stmt)) == 1:
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
        return _rowcount(await self.s.execute(stmt)) == 1

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

    async def unsent(self, dedupe_key: str) -> OutboxMessage | None:
        """The message staged under ``dedupe_key`` if it was not sent yet (to amend it)."""
        t = tables.outbox.c
        q = select(OutboxMessage).where(t.dedupe_key == dedupe_key, t.sent_at.is_(None))
        return (await self.s.execute(q)).scalars().first()

    async def for_user(self, user_id: int) -> Sequence[OutboxMessage]:
        t = tables.outbox.c
        q = select(OutboxMessage).where(t.user_id == user_id).order_by(t.id)
        return (await self.s.execute(q)).scalars().all()


class ChainEvents(_Repo):
    async def record(self, ev: ChainEventRecord) -> bool:
        """Insert the event unless (tx_hash, log_index) was applied before; True if new."""
        values = row_values(ev, tables.chain_events)
        stmt = _insert_or_ignore(
            self.s.bind.dialect.name, tables.chain_events, ("tx_hash", "log_index")
        )
        return _rowcount(await self.s.execute(stmt, values)) == 1


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

    async def by_request(self, user_id: int, request_key: str) -> PendingSignature | None:
        t = tables.pending_signatures.c
        q = select(PendingSignature).where(t.user_id == user_id, t.request_key == request_key)
        return (await self.s.execute(q)).scalar_one_or_none()

    async def waiting_for(self, rental_id: int, kind: str, now: int) -> PendingSignature | None:
        """The newest request of ``kind`` for the rental still waiting for the wallet."""
        t = tables.pending_signatures
        q = (
            select(PendingSignature)
            .where(
                t.c.rental_id == rental_id,
                t.c.kind == kind,
                t.c.status == "pending",
                t.c.expires_at >= now,
            )
            .order_by(t.c.id.desc())
            .limit(1)
        )
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


_SETTING_VALUE = select(tables.settings_kv.c.value).where(
    tables.settings_kv.c.key == bindparam("k")
)
_SETTING_PUT = _upsert(tables.settings_kv, ("key",), replace=("value",))


class Settings(_Repo):
    async def get_value(self, key: str) -> str | None:
        # one column by its key, no entity: every chat update reads its pending question
        return (await self.s.execute(_SETTING_VALUE, {"k": key})).scalar_one_or_none()

    async def set_value(self, key: str, value: str) -> None:
        """One upsert: two writers of a new key (two updates of one user in flight on
        PostgreSQL) never both insert, and no read comes first."""
        await self.s.execute(_SETTING_PUT, {"key": key, "value": value})

    async def set_values(self, values: Mapping[str, str]) -> None:
        """``set_value`` of each, as one statement run for every row."""
        if values:
            await self.s.execute(_SETTING_PUT, [{"key": k, "value": v} for k, v in values.items()])


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
        return bool(_rowcount(await self.s.execute(stmt)))
