"""In-memory users, providers, outbox, signature requests, settings and held payouts
(core/db/repositories.py and core/db/payouts.py on dicts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.domain.model import HeldPayout, OutboxMessage, Provider, Setting, User
from core.domain.signatures import PendingSignature
from tests.fakes.memory_uow.store import Table


class MemoryUsers(Table):
    name = "users"
    unique = (("platform", "external_id"),)

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


class MemoryProviders(Table):
    name = "providers"
    unique = (("user_id",),)

    async def get(self, provider_id: int) -> Provider | None:
        return self.rows.get(provider_id)

    async def by_user(self, user_id: int) -> Provider | None:
        return self.one(lambda p: p.user_id == user_id)


class MemoryOutbox(Table):
    name = "outbox"
    unique = (("dedupe_key",),)

    async def enqueue(self, msg: OutboxMessage) -> bool:
        if self.one(lambda m: m.dedupe_key == msg.dedupe_key) is not None:
            return False
        self.add(msg)
        return True

    async def due(self, now: int, limit: int = 100) -> Sequence[OutboxMessage]:
        return self.where(lambda m: m.sent_at is None and m.next_attempt_at <= now)[:limit]

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return self.rows.get(outbox_id)

    async def unsent(self, dedupe_key: str) -> OutboxMessage | None:
        return self.one(lambda m: m.dedupe_key == dedupe_key and m.sent_at is None)

    async def discard(self, dedupe_key: str) -> None:
        for m in self.where(lambda m: m.dedupe_key == dedupe_key and m.sent_at is None):
            del self.rows[m.id]

    async def for_user(self, user_id: int) -> Sequence[OutboxMessage]:
        return self.where(lambda m: m.user_id == user_id)


class MemorySignatures(Table):
    name = "signatures"
    unique = (("token",), ("user_id", "request_key"))

    # one process, no concurrent writer: the SQL one's row lock has nothing to wait for
    async def by_token(self, token: str) -> PendingSignature | None:
        return self.one(lambda p: p.token == token)

    get_by_token = by_token

    async def by_request(self, user_id: int, request_key: str) -> PendingSignature | None:
        return self.one(lambda p: (p.user_id, p.request_key) == (user_id, request_key))

    async def waiting_for(self, rental_id: int, kind: str, now: int) -> PendingSignature | None:
        """The newest pending, unexpired request of ``kind`` for the rental."""
        hits = self.where(
            lambda p: (
                (p.rental_id, p.kind, p.status) == (rental_id, kind, "pending")
                and p.expires_at >= now
            ),
            newest_first=True,
        )
        return hits[0] if hits else None

    async def expired(self, now: int, limit: int = 500) -> Sequence[PendingSignature]:
        return self.where(lambda p: p.status == "pending" and p.expires_at < now)[:limit]

    async def signed_unexpired(
        self, kinds: Sequence[str], now: int, limit: int = 500
    ) -> Sequence[PendingSignature]:
        return self.where(
            lambda p: p.status == "signed" and p.expires_at >= now and p.kind in kinds
        )[:limit]

    async def unanswered(
        self, now: int, created_before: int, limit: int = 500
    ) -> Sequence[PendingSignature]:
        return self.where(
            lambda p: (
                p.status == "pending" and p.expires_at >= now and p.created_at <= created_before
            )
        )[:limit]


class MemorySettings(Table):
    name = "settings"

    @staticmethod
    def key(entity: Setting) -> str:
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

    async def set_values(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            await self.set_value(key, value)


class MemoryPayouts(Table):
    name = "payouts"
    unique = (("tx_hash", "log_index"),)

    async def for_rentals(self, rental_ids: Sequence[int]) -> list[HeldPayout]:
        return self.where(lambda p: p.rental_id in rental_ids)

    async def for_user(self, user_id: int, role: str) -> list[HeldPayout]:
        return self.where(lambda p: (p.user_id, p.role) == (user_id, role))

    async def held_for(self, address: str) -> list[HeldPayout]:
        return self.where(lambda p: p.address == address and p.status == "held")
