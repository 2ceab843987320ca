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
from core.ports import ChainEvent, ChainReceipt
from core.services.messagebus import Applying, MessageBus
from core.services.mirror import Mirror
from core.services.rental_rules import terms_of
from rigshare_dev.fakes.escrow import fake_signature
from tests.support import add_provider, rental_row, renter

PRICE = 650_000


async def test_an_unknown_event_kind_is_recorded_and_skipped_and_the_others_applied(app, caplog):
    await add_provider(app, "prov", ["rtx4090"], PRICE)
    alice = await renter(app)
    quote = await app.market.quote(alice, ListingQuery(model="rtx4090"), 3600)
    await app.rentals.confirm(alice, quote.rental_id)
    r = await rental_row(app, quote.rental_id)
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
    assert (await rental_row(app, quote.rental_id)).state == RentalState.ACTIVE
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


# -- an escrow call's events through a database that fails ------------------------------------
class _FlakyUow(_Uow):
    """Fails to open a transaction while ``failures[0]`` > 0, counting it down."""

    def __init__(self, records: _Records, journal: list[str], failures: list[int]) -> None:
        super().__init__(records, journal)
        self.failures = failures

    async def __aenter__(self) -> _FlakyUow:
        if self.failures[0] > 0:
            self.failures[0] -= 1
            raise OSError("database is locked")
        return self


def _flaky_bus(journal: list[str], failures: list[int], ping) -> MessageBus:  # noqa: ANN001
    records = _Records()

    async def opened(fact: RentalOpened, at: Applying) -> None:
        journal.append("opened")
        at.then(_Ping(1))

    async def started(fact: RentalStarted, at: Applying) -> None:
        journal.append("started")

    return MessageBus(
        lambda readonly=False: _FlakyUow(records, journal, failures),
        _Clock(),
        facts={RentalOpened: opened, RentalStarted: started},
        commands={_Ping: ping},
        mirror=Mirror(retry_s=(0, 0)),  # two more tries, no waiting
    )


async def test_a_receipt_is_written_again_while_the_database_fails_for_a_moment():
    journal: list[str] = []
    failures = [2]  # the first two tries fail, the third (the last) goes through

    async def ping(command: _Ping) -> tuple[ChainEvent, ...]:
        return ()

    bus = _flaky_bus(journal, failures, ping)
    receipt = ChainReceipt("0x01", 1, 0, (_event(1, "RentalOpened"),))
    assert await bus.record(receipt) == 1
    assert journal == ["opened", "commit"]
    assert bus.mirror.behind == []
    # a plain apply (the watcher's delivery) is not retried: the watcher delivers it again
    failures[0] = 1
    with pytest.raises(OSError):
        await bus.apply([_event(5, "RentalStarted")])


async def test_a_follow_ups_escrow_events_wait_for_the_keeper_when_the_database_stays_down():
    """The follow-up's escrow call cannot be undone: its events are kept, not lost with the
    queue, and the keeper's catch-up records them (and runs their follow-ups) later."""
    journal: list[str] = []
    failures = [0]

    async def ping(command: _Ping) -> tuple[ChainEvent, ...]:
        failures[0] = 3  # the database fails right after the escrow call, for every try
        return (_event(2, "RentalStarted"),)

    bus = _flaky_bus(journal, failures, ping)
    assert await bus.apply([_event(1, "RentalOpened")]) == 1  # the caller's own batch went in
    assert journal == ["opened", "commit"]
    assert bus.mirror.behind == [(_event(2, "RentalStarted"),)]
    failures[0] = 1
    assert await bus.catch_up() == 0  # still failing: kept for the next pass
    assert bus.mirror.behind == [(_event(2, "RentalStarted"),)]
    assert await bus.catch_up() == 1
    assert journal == ["opened", "commit", "started", "commit"]
    assert bus.mirror.behind == []
