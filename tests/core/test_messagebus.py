"""The message bus: typed chain facts dispatched through an explicit registry, unknown kinds
skipped without stopping the others, and what a handler raises queued behind it (no
recursion)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from core.domain.chain_events import (
    MalformedEvent,
    RentalEnded,
    RentalOpened,
    RentalStarted,
    fact_of,
)
from core.domain.listings import ListingQuery
from core.domain.rentals import RentalState
from core.ports import ChainEvent
from core.services.messagebus import Applying, MessageBus
from core.services.rental_rules import terms_of
from rigshare_dev.fakes.escrow import fake_signature
from tests.support import add_provider, renter

PRICE = 650_000


async def _rental(app, rental_id):
    async with app.rentals.uow(readonly=True) as uow:
        return await uow.rentals.get(rental_id)


async def test_an_unknown_event_kind_is_recorded_and_skipped_and_the_others_applied(app, caplog):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    r = await _rental(app, quote.rental_id)
    signature = fake_signature(
        r.renter_address, app.escrow._open_payload(terms_of(r), r.renter_address)
    )
    opened = (await app.escrow.open(terms_of(r), r.renter_address, signature)).events[0]
    hostile = ChainEvent("0x" + "ee" * 32, 7, opened.block_number, "RentalStolen", r.escrow_id)
    with caplog.at_level(logging.WARNING, logger="core.services.messagebus"):
        fresh = await app.bus.apply([hostile, opened])
    assert fresh == 2  # both recorded: the unknown one is never retried
    assert any("unknown kind 'RentalStolen'" in m for m in caplog.messages)
    await app.settle()
    assert (await _rental(app, quote.rental_id)).state == RentalState.ACTIVE
    assert await app.bus.apply([hostile]) == 0  # exactly once, like every other event


def test_facts_are_read_from_the_contracts_argument_names():
    head = ("0xab", 3, 9, "0x01")
    started = fact_of("RentalStarted", head, {"startedAt": 100, "paidUntil": 3700})
    assert started == RentalStarted("0xab", 3, 9, "0x01", started_at=100, paid_until=3700)
    assert fact_of("NoSuchEvent", head, {}) is None
    with pytest.raises(MalformedEvent):
        fact_of("RentalEnded", head, {"endedAt": "soon"})
    with pytest.raises(MalformedEvent):
        fact_of("RentalEnded", head, {})


# -- the queue, on fakes -------------------------------------------------------------------------
class _Records:
    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()

    async def record(self, rec) -> bool:
        key = (rec.tx_hash, rec.log_index)
        fresh = key not in self.seen
        self.seen.add(key)
        return fresh


class _Rentals:
    async def by_escrow_id(self, escrow_id: str) -> object:
        return object()


class _Uow:
    def __init__(self, records: _Records, journal: list[str]) -> None:
        self.chain_events, self.rentals, self.journal = records, _Rentals(), journal

    async def __aenter__(self) -> _Uow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def commit(self) -> None:
        self.journal.append("commit")


class _Clock:
    def now(self) -> int:
        return 1_000


@dataclass(frozen=True)
class _Ping:
    n: int


def _event(i: int, name: str) -> ChainEvent:
    args = {"startedAt": 1, "paidUntil": 2, "endedAt": 3}
    return ChainEvent(f"0x{i:02x}", 0, i, name, "0x01", args)


async def test_what_a_handler_raises_is_queued_behind_it_not_handled_inside_it():
    journal: list[str] = []
    depth = 0
    records = _Records()
    bus: MessageBus

    async def opened(fact: RentalOpened, at: Applying) -> None:
        journal.append("opened")
        at.then(_Ping(1))

    async def started(fact: RentalStarted, at: Applying) -> None:
        journal.append("started")

    async def ended(fact: RentalEnded, at: Applying) -> None:
        journal.append("ended")

    async def ping(command: _Ping) -> tuple[ChainEvent, ...]:
        nonlocal depth
        depth += 1
        try:
            journal.append(f"ping {command.n} begins")
            # a nested call from inside a handler is queued, not run inside this one
            assert await bus.apply([_event(3, "RentalEnded")]) == 0
            journal.append(f"ping {command.n} ends")
            return (_event(2, "RentalStarted"),)  # the escrow receipt's events
        finally:
            depth -= 1
            assert depth == 0

    bus = MessageBus(
        lambda readonly=False: _Uow(records, journal),
        _Clock(),
        facts={RentalOpened: opened, RentalStarted: started, RentalEnded: ended},
        commands={_Ping: ping},
    )
    assert await bus.apply([_event(1, "RentalOpened")]) == 1
    assert journal == [
        "opened",
        "commit",
        "ping 1 begins",
        "ping 1 ends",
        "ended",  # queued first (the nested call), handled first
        "commit",
        "started",
        "commit",
    ]
    # a later call on the same task starts a fresh queue (the last one was cleared)
    assert await bus.apply([_event(4, "RentalEnded")]) == 1


async def test_a_command_without_a_handler_is_a_programming_error():
    bus = MessageBus(lambda readonly=False: None, _Clock(), facts={}, commands={})
    with pytest.raises(TypeError):
        await bus.execute(_Ping(1))
