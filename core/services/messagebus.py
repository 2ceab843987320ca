"""The one way chain events and their follow-up calls are handled (in the manner of
cosmicpython's ``messagebus.py``).

A batch of escrow events is mirrored in one transaction: each is recorded exactly once by
(tx hash, log index), turned into its typed fact (``core.domain.chain_events``) and handed to
the handler registered for the fact's type. Handlers change state and stage messages inside the
transaction; what must reach the outside world (an agent's grant, an escrow call) they ask for
as a follow-up command, which runs after the commit, so a crash in between is repaired by the
keeper or by the event being delivered again. A follow-up that calls the escrow returns the
receipt's events, which are queued and mirrored in turn.

The events of an escrow call this process made (``record``, and every follow-up's) cannot be
lost to a database that fails for a moment: their transaction is tried again and, if it still
fails, kept for the keeper's next pass (``core.services.mirror``, ``catch_up``).

Everything raised while a message is handled is queued behind it and handled in order by the
same loop: nothing re-enters the bus from inside a handler (a nested :meth:`MessageBus.apply`
in the same task is queued and returns 0). An event of a kind the service does not know is
recorded, logged and skipped: the chain is outside input and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.domain.chain_events import ChainFact, RentalFact, fact_of
from core.domain.model import ChainEventRecord, Rental
from core.ports import ChainEvent, ChainReceipt, Clock
from core.services.base import UnitOfWork, UowFactory
from core.services.mirror import Mirror

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Applying:
    """What a fact's handler works with: the open transaction, the time, the rental the fact
    is about (None for an account's fact) and the follow-ups it asks for."""

    uow: UnitOfWork
    now: int
    rental: Rental | None
    follow_ups: list[object] = field(default_factory=list)

    def then(self, command: object) -> None:
        """Run ``command`` after this transaction commits."""
        self.follow_ups.append(command)

    @property
    def the_rental(self) -> Rental:
        """The rental of a rental fact: the bus finds it by escrow id before its handler runs
        (and skips a fact for an unknown escrow), so None here is a dispatch bug."""
        if self.rental is None:
            raise ValueError("a rental fact's handler ran without its rental")
        return self.rental


FactHandler = Callable[[Any, Applying], Awaitable[None]]
# a follow-up returns the chain events its call caused (an escrow receipt's), to be mirrored
CommandHandler = Callable[[Any], Awaitable[Sequence[ChainEvent]]]


@dataclass(frozen=True, slots=True)
class _Batch:
    events: tuple[ChainEvent, ...]
    receipt: bool = False  # an escrow call of this process did it: retried, then kept


class MessageBus:
    """Maps each fact type and each follow-up command type to its one handler, explicitly."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        *,
        facts: Mapping[type[ChainFact], FactHandler],
        commands: Mapping[type, CommandHandler],
        mirror: Mirror | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.facts = dict(facts)
        self.commands = dict(commands)
        self.mirror = mirror or Mirror()
        self._queues: dict[asyncio.Task[object] | None, deque[object]] = {}

    async def apply(self, events: Sequence[ChainEvent]) -> int:
        """Mirror escrow events (in chain order) in one transaction, each exactly once, then
        run their follow-ups; return how many of ``events`` were new. Raises CoreError (an
        illegal transition) or MalformedEvent and then applies none of them."""
        return await self._run(_Batch(tuple(events)))

    async def record(self, receipt: ChainReceipt) -> int:
        """Mirror what an escrow call of this process just did, like :meth:`apply`, but a
        database that fails is tried again for some seconds and then left to the keeper
        (:meth:`catch_up`): the call cannot be undone, so its record must not be lost."""
        return await self._run(_Batch(tuple(receipt.events), receipt=True))

    async def catch_up(self) -> int:
        """Record the receipts given up on (oldest first, until one fails again); the keeper
        does this before it cancels unpaid holds. Returns how many were recorded."""
        return await self.mirror.catch_up(self.apply)

    async def execute(self, command: object) -> None:
        """Run one follow-up command (and mirror the events it causes)."""
        await self._run(command)

    async def _run(self, message: object) -> int:
        task = asyncio.current_task()
        queue = self._queues.get(task)
        if queue is not None:  # raised while this task handles a message: handled after it
            queue.append(message)
            return 0
        queue = self._queues[task] = deque([message])
        first: int | None = None
        try:
            while queue:
                fresh = await self._handle(queue.popleft(), queue)
                first = fresh if first is None else first
        finally:
            del self._queues[task]
        return first or 0

    async def _handle(self, message: object, queue: deque[object]) -> int:
        if isinstance(message, _Batch):
            if not message.receipt:
                fresh, follow_ups = await self.write(message.events)
            else:
                done = await self.mirror.record(message.events, self.write)
                if done is None:  # kept for the keeper: its follow-ups run when recorded
                    return 0
                fresh, follow_ups = done
            queue.extend(follow_ups)
            return fresh
        handler = self.commands.get(type(message))
        if handler is None:  # a programming error, not outside input
            raise TypeError(f"no handler registered for {type(message).__name__}")
        caused = await handler(message)
        if caused:
            queue.append(_Batch(tuple(caused), receipt=True))
        return 0

    async def write(self, events: Sequence[ChainEvent]) -> tuple[int, list[object]]:
        """The one transaction that records ``events`` and applies their handlers; returns
        how many were new and the follow-ups they ask for."""
        now = self.clock.now()
        follow_ups: list[object] = []
        fresh = 0
        async with self.uow() as uow:
            for event in events:
                fresh += await self._one(uow, event, now, follow_ups)
            await uow.commit()
        return fresh, follow_ups

    async def _one(
        self, uow: UnitOfWork, event: ChainEvent, now: int, follow: list[object]
    ) -> bool:
        if not await uow.chain_events.record(_record(event, now)):
            return False
        head = (event.tx_hash, event.log_index, event.block_number, event.escrow_id)
        fact = fact_of(event.name, head, event.args)
        if fact is None:
            log.warning(
                "chain event of unknown kind %r at %s:%s recorded and skipped",
                str(event.name)[:64],
                event.tx_hash,
                event.log_index,
            )
            return True
        handler = self.facts.get(type(fact))
        if handler is None:  # a known kind nothing here acts on (its settlement follows)
            return True
        rental = None
        if isinstance(fact, RentalFact):
            rental = await uow.rentals.by_escrow_id(fact.escrow_id)
            if rental is None:
                log.warning("event %s for unknown escrow id %s", event.name, event.escrow_id)
                return True
        await handler(fact, Applying(uow, now, rental, follow))
        return True


def _record(event: ChainEvent, now: int) -> ChainEventRecord:
    return ChainEventRecord(
        tx_hash=event.tx_hash,
        log_index=event.log_index,
        block_number=event.block_number,
        name=event.name,
        escrow_id=event.escrow_id,
        args=dict(event.args),
        applied_at=now,
    )
