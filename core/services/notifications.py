"""The outbox: messages that must not be lost, delivered at least once by a sender loop."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from core.domain.model import OutboxMessage, User, stored_id
from core.services.base import Service

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
NEVER = 2**62
SECRET_KINDS = frozenset({"private_key"})


def scrubbed_payload(payload: dict[str, Any] | None) -> dict[str, Any]:
    """What a secret-carrying row keeps once it can never be sent again: its rental, no
    secret (delivered, or dead-lettered: kept for support, who must not see the key)."""
    rental_id = payload.get("rental_id") if isinstance(payload, dict) else None
    return {"rental_id": rental_id, "scrubbed": True}


@dataclass(frozen=True, slots=True)
class DueMessage:
    outbox_id: int
    user_id: int
    platform: str
    chat_id: str | None
    lang: str
    kind: str
    payload: dict[str, Any]
    private: bool
    attempts: int
    claimed_until: int | None = None  # the sender's lease (claim); None outside a claim


class NotificationService(Service):
    async def due(self, limit: int = 100) -> list[DueMessage]:
        """Messages whose time has come, oldest first, with where and how to send them (an
        unreadable row is left out and logged: the claiming senders dead-letter it)."""
        now = self.clock.now()
        out = []
        async with self.uow(readonly=True) as uow:
            for m in await uow.outbox.due(now, limit):
                message = _due(m, await uow.users.get(m.user_id))
                if message is None:
                    log.error("outbox message %s (%s) is unreadable; skipped", m.id, m.kind)
                else:
                    out.append(message)
        return out

    async def claim(
        self,
        platform: str,
        limit: int = 50,
        lease_s: int = 60,
        *,
        user_ids: Collection[int] | None = None,
    ) -> list[DueMessage]:
        """Take due messages for ``platform``'s users (of ``user_ids`` when given: a terminal
        window's own users), oldest first, for ``lease_s`` seconds: no other sender gets them
        until then, unless they are marked sent or failed first. A sender that dies mid-way
        leaves them to the next one after the lease."""
        now = self.clock.now()
        until = now + lease_s
        taken = []
        async with self.uow() as uow:
            for m, user in await uow.outbox.claim(platform, now, until, limit, user_ids):
                message = _due(m, user, claimed_until=until)
                if message is None:  # a damaged row must not block the ones behind it
                    log.error("outbox message %s (%s) is unreadable; dead-lettered", m.id, m.kind)
                    _dead_letter_unreadable(m)
                else:
                    taken.append(message)
            await uow.commit()
        return taken

    async def hold(self, outbox_id: int, claimed_until: int, lease_s: int) -> int | None:
        """Right before sending a claimed message: renew the claim for ``lease_s`` seconds if
        it is still this sender's (``claimed_until`` as claimed or last held). None when the
        lease ran out and another sender took the message, or it was sent: do not send it."""
        until = self.clock.now() + lease_s
        async with self.uow() as uow:
            held = await uow.outbox.renew(outbox_id, claimed_until, until)
            await uow.commit()
        return until if held else None

    async def release(self, outbox_ids: list[int]) -> None:
        """Hand claimed messages back unsent, without counting an attempt (a paused sender)."""
        if not outbox_ids:
            return
        async with self.uow() as uow:
            for outbox_id in outbox_ids:
                msg = await uow.outbox.get(outbox_id)
                if msg is not None and msg.sent_at is None:
                    msg.claimed_until = None
            await uow.commit()

    async def mark_sent(self, outbox_id: int) -> None:
        """Record delivery; a message that carried a secret keeps no copy of it."""
        async with self.uow() as uow:
            msg = await uow.outbox.get(outbox_id)
            if msg is None or msg.sent_at is not None:
                return
            msg.sent_at = self.clock.now()
            msg.claimed_until = None
            if msg.kind in SECRET_KINDS:
                msg.payload = scrubbed_payload(msg.payload)
            await uow.commit()

    async def mark_failed(
        self,
        outbox_id: int,
        error: str,
        *,
        permanent: bool = False,
        retry_in: int | None = None,
    ) -> None:
        """Back off exponentially (5 s .. 1 h), or ``retry_in`` seconds when the platform said
        when; give up after MAX_ATTEMPTS or if permanent. Releases the sender's claim."""
        async with self.uow() as uow:
            msg = await uow.outbox.get(outbox_id)
            if msg is None or msg.sent_at is not None:
                return
            msg.attempts += 1
            msg.last_error = error[:500]
            msg.claimed_until = None
            now = self.clock.now()
            if permanent or msg.attempts >= MAX_ATTEMPTS:
                msg.next_attempt_at = NEVER  # dead letter: kept for support, never retried
                if msg.kind in SECRET_KINDS:
                    msg.payload = scrubbed_payload(msg.payload)
            elif retry_in is not None:
                msg.next_attempt_at = now + max(1, min(3600, retry_in))
            else:
                msg.next_attempt_at = now + min(3600, 5 * 2 ** (msg.attempts - 1))
            await uow.commit()

    async def history(self, user_id: int) -> list[tuple[str, dict[str, Any], int | None]]:
        """(kind, payload, sent_at) of everything queued for a user (tests, support)."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.outbox.for_user(user_id)
        return [(m.kind, m.payload or {}, m.sent_at) for m in rows]


def _dead_letter_unreadable(msg: OutboxMessage) -> None:
    """Never retried again, kept for support with the reason (and without a secret)."""
    msg.attempts += 1
    msg.last_error = "unreadable payload (not a JSON object)"
    msg.claimed_until = None
    msg.next_attempt_at = NEVER
    if msg.kind in SECRET_KINDS:
        msg.payload = scrubbed_payload(msg.payload)


def _due(
    m: OutboxMessage, user: User | None, *, claimed_until: int | None = None
) -> DueMessage | None:
    """An outbox row and its recipient as the sender needs them; None for a row whose
    payload is not a JSON object (or whose recipient is gone)."""
    payload = m.payload
    if not isinstance(payload, dict) or user is None:
        return None
    return DueMessage(
        outbox_id=stored_id(m),
        user_id=m.user_id,
        platform=user.platform,
        chat_id=user.chat_id,
        lang=user.lang,
        kind=m.kind,
        payload=payload,
        private=m.private,
        attempts=m.attempts,
        claimed_until=claimed_until,
    )
