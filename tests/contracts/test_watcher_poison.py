"""One chain event the service cannot apply never stalls the mirror of every other rental: it
is retried a few polls, then set aside with a reference; a database that is away is waited
for instead (every event fails then, and none may be skipped)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from sqlalchemy.exc import OperationalError

from contracts.watcher import SET_ASIDE_AFTER, ChainWatcher
from core.ports import ChainEvent


class _Eth:
    """The three calls the watcher makes, over a fixed list of events in blocks 1..n."""

    def __init__(self, head: int) -> None:
        self.head = head

    @property
    async def block_number(self) -> int:
        return self.head

    async def get_block(self, number: int) -> dict:
        return {"hash": number.to_bytes(32, "big")}

    async def get_logs(self, query: dict) -> list[int]:
        return list(range(query["fromBlock"], query["toBlock"] + 1))


def _escrow(events: list[ChainEvent]) -> SimpleNamespace:
    by_block = {e.block_number: e for e in events}
    decoder = SimpleNamespace(
        topics=["0x00"], decode_all=lambda blocks: [by_block[b] for b in blocks if b in by_block]
    )
    eth = _Eth(head=max(by_block))
    return SimpleNamespace(
        w3=SimpleNamespace(eth=eth), chain_id=1, address="0x" + "ab" * 20, decoder=decoder
    )


def _events(n: int) -> list[ChainEvent]:
    return [
        ChainEvent(f"0x{i:064x}", 0, i, "RentalStarted", f"0x{i:064x}") for i in range(1, n + 1)
    ]


async def test_a_poison_event_is_set_aside_after_a_few_polls_and_the_rest_applied(app, caplog):
    events = _events(6)
    applied: list[int] = []

    async def sink(event: ChainEvent) -> None:
        if event.block_number == 3:
            raise KeyError("a field this code did not expect")
        applied.append(event.block_number)

    watcher = ChainWatcher(_escrow(events), sink, app.lifecycle.uow, confirmations=0, start_block=1)
    with caplog.at_level(logging.WARNING):
        for _ in range(SET_ASIDE_AFTER - 1):
            try:
                await watcher.poll()
            except KeyError:
                pass
            assert await watcher.cursor() == 0  # nothing after it is skipped meanwhile
        await watcher.poll()
    assert sorted(set(applied)) == [1, 2, 4, 5, 6]
    assert await watcher.cursor() == 6
    [set_aside] = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert (
        "reference chain-" in set_aside.getMessage() and events[2].tx_hash in set_aside.getMessage()
    )


async def test_a_database_that_is_away_is_waited_for_not_skipped(app):
    events = _events(3)
    down = True

    async def sink(event: ChainEvent) -> None:
        if down:
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("db down"))

    watcher = ChainWatcher(_escrow(events), sink, app.lifecycle.uow, confirmations=0, start_block=1)
    for _ in range(SET_ASIDE_AFTER * 2):
        try:
            await watcher.poll()
        except OperationalError:
            pass
    assert await watcher.cursor() == 0, "not one event skipped"
    down = False
    assert await watcher.poll() == 3 and await watcher.cursor() == 3
