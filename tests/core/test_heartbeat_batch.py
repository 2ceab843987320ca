"""Group-committed heartbeats: many beats, one transaction, same outcome as one by one."""

from __future__ import annotations

import asyncio

import pytest

from core.domain.listings import ListingStatus
from core.domain.reliability import HEARTBEAT_COVERAGE
from core.errors import Forbidden
from core.services.heartbeat_batch import HeartbeatBatcher
from core.services.providers import hash_token
from tests.bot.agent_support import add_host
from tests.support import heartbeat


async def test_concurrent_beats_share_a_transaction_and_odd_ones_take_the_slow_path(app, clock):
    one, two = await add_host(app, "one"), await add_host(app, "two")
    three = await add_host(app, "three")
    batcher = HeartbeatBatcher(app.agents)
    clock.advance(10)
    beats = [
        (hash_token(one.token), heartbeat(["rtx4090"], seq=2)),
        (hash_token(two.token), heartbeat(["rtx4090"], seq=2)),
        (hash_token(one.token), heartbeat(["rtx4090"], seq=3)),  # same machine twice
        (hash_token("rsa_unknown"), heartbeat(["rtx4090"])),
        (hash_token(three.token), heartbeat(["h100"], seq=2)),  # the GPU changed
    ]
    results = await asyncio.gather(
        *(batcher.submit(h, hb) for h, hb in beats), return_exceptions=True
    )
    assert batcher.batches == 1 and batcher.beats == 5
    assert [getattr(r, "machine_id", None) for r in results] == [
        one.machine_id,
        two.machine_id,
        one.machine_id,
        None,
        three.machine_id,
    ]
    assert isinstance(results[3], Forbidden)
    async with app.agents.uow(readonly=True) as uow:
        m1 = await uow.machines.get(one.machine_id)
        m2 = await uow.machines.get(two.machine_id)
        listings = {x.gpu_model: x.status for x in await uow.listings.for_machine(three.machine_id)}
    assert (m1.covered_seconds, m2.covered_seconds) == (10, 10)
    assert m1.last_heartbeat_at == m2.last_heartbeat_at == clock.now()
    assert listings == {"rtx4090": ListingStatus.SUSPENDED, "h100": ListingStatus.PAUSED}
    await batcher.close()


async def test_a_failing_batch_fails_its_beats_only(app, monkeypatch):
    host = await add_host(app)
    batcher = HeartbeatBatcher(app.agents)

    async def broken(beats):
        raise RuntimeError("database went away")

    monkeypatch.setattr(app.agents, "heartbeat_many", broken)
    with pytest.raises(RuntimeError):
        await batcher.submit(hash_token(host.token), heartbeat(["rtx4090"]))
    monkeypatch.undo()
    ack = await batcher.submit(hash_token(host.token), heartbeat(["rtx4090"]))
    assert ack.machine_id == host.machine_id


async def test_a_beat_the_database_refuses_fails_alone_and_the_others_commit(app, clock, backend):
    """Beats that bypassed the wire's checks (model_copy): the database refuses them
    inside the shared transaction (PostgreSQL: a 100-character agent_version in a VARCHAR(32);
    both: a port over 64 bits). Only their senders get an error; every other beat lands."""
    hosts = [await add_host(app, f"host{i}") for i in range(6)]
    batcher = HeartbeatBatcher(app.agents)
    clock.advance(10)
    good = heartbeat(["rtx4090"], seq=2)
    poison = {1: good.model_copy(update={"ssh_port": 2**70})}
    if backend == "postgres":
        poison[4] = good.model_copy(update={"agent_version": "v" * 100})
    beats = [(hash_token(h.token), poison.get(i, good)) for i, h in enumerate(hosts)]
    results = await asyncio.gather(
        *(batcher.submit(h, hb) for h, hb in beats), return_exceptions=True
    )
    assert batcher.batches == 1
    failed = {i for i, r in enumerate(results) if isinstance(r, BaseException)}
    assert failed == set(poison)
    async with app.agents.uow(readonly=True) as uow:
        machines = [await uow.machines.get(h.machine_id) for h in hosts]
    beaten = {i for i, m in enumerate(machines) if m.last_heartbeat_at == clock.now()}
    assert beaten == set(range(6)) - set(poison)
    assert all(machines[i].covered_seconds == 10 for i in beaten)
    await batcher.close()


async def test_the_slow_path_lets_the_event_loop_turn_between_beats(app, clock):
    """Beats that each need their own transaction (here: after an outage, every machine's
    gap) are written one after another; on SQLite, whose statements run inline in the
    event loop, a batch of hundreds would otherwise hold every chat update for its whole
    length. Counted, not timed: a task that only counts loop turns runs between the beats."""
    hosts = [await add_host(app, f"host{i}") for i in range(5)]
    clock.advance(HEARTBEAT_COVERAGE + 60)  # every machine was silent: each beat is slow
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    before = turns
    acks = await app.agents.heartbeat_many(
        [(hash_token(h.token), heartbeat(["rtx4090"], seq=2)) for h in hosts]
    )
    during = turns - before
    counter.cancel()
    assert [a.machine_id for a in acks] == [h.machine_id for h in hosts]
    assert during >= len(hosts) - 1
