"""Chat updates are handled once (``core.services.updates``): a duplicate is dropped, one that
is being handled elsewhere is "busy" until its lease ends, and one whose handler died is taken
over. Two applications on one database stand for two service processes (SQLite, PostgreSQL).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event, select

from bot.bootstrap import build_app
from core.db import tables
from core.services.updates import KEEP_S, LEASE_S, PRUNE_EVERY


async def test_first_claim_handles_a_repeat_is_a_duplicate(app):
    first = await app.updates.claim("telegram", 1001)
    assert first.handle and not first.duplicate and first.first
    await app.updates.done("telegram", 1001)
    again = await app.updates.claim("telegram", 1001)
    assert not again.handle and again.duplicate
    other_source = await app.updates.claim("discord", 1001)
    assert other_source.handle


async def test_in_flight_elsewhere_is_busy_until_the_lease_then_taken_over(app, clock):
    assert (await app.updates.claim("telegram", 7)).handle
    busy = await app.updates.claim("telegram", 7)  # the first handler has not finished
    assert not busy.handle and not busy.duplicate and busy.retry_at == clock.now() + LEASE_S
    clock.advance(LEASE_S - 1)
    assert not (await app.updates.claim("telegram", 7)).handle
    clock.advance(1)  # the first claimer died: its lease is over
    taken = await app.updates.claim("telegram", 7)
    assert taken.handle and not taken.duplicate
    assert not taken.first  # the dead handler may have left effects: services look for them
    assert not (await app.updates.claim("telegram", 7)).handle  # and now it is ours
    await app.updates.done("telegram", 7)
    assert (await app.updates.claim("telegram", 7)).duplicate


async def test_two_processes_racing_for_one_update_one_wins(app, settings, clock):
    other = build_app(settings, clock=clock)  # a second process on the same database
    try:
        claims = await asyncio.gather(
            *(svc.updates.claim("telegram", 55) for svc in [app, other] * 10)
        )
    finally:
        await other.close()
    assert sum(c.handle for c in claims) == 1


async def test_handled_updates_are_pruned_after_two_days(app, clock):
    await app.updates.claim("telegram", 1)
    await app.updates.done("telegram", 1)
    await app.updates.claim("telegram", 2)  # never finished: kept
    clock.advance(KEEP_S + 1)
    app.updates._claims = PRUNE_EVERY - 1  # the next claim prunes
    await app.updates.claim("telegram", 3)
    c = tables.processed_updates.c
    async with app.db.read.connect() as conn:
        rows = await conn.execute(select(c.update_id).order_by(c.update_id))
    assert [r[0] for r in rows] == [2, 3]


async def test_a_group_claim_sorts_new_done_busy_and_repeated_ids(app, clock):
    """``claim_many`` claims the first-timers in one statement and asks about the others one
    by one: each id gets the answer a claim of its own would have given."""
    assert (await app.updates.claim("telegram", 1)).handle  # busy: its handler is running
    assert (await app.updates.claim("telegram", 2)).handle
    await app.updates.done("telegram", 2)  # done: a duplicate
    assert (await app.updates.claim("telegram", 3)).handle
    clock.advance(LEASE_S)  # 3's handler died: taken over; 1's lease ended too
    assert (await app.updates.claim("telegram", 1)).handle  # claimed afresh: busy again
    ids = [1, 2, 3, *range(100, 170), 100]
    claims = await app.updates.claim_many("telegram", ids, done=[])
    assert len(claims) == len(ids)
    by_id = dict(zip(ids[:-1], claims[:-1], strict=True))
    assert not by_id[1].handle and not by_id[1].duplicate
    assert by_id[1].retry_at == clock.now() + LEASE_S
    assert by_id[2].duplicate and not by_id[2].handle
    assert by_id[3].handle and not by_id[3].first  # taken over
    # more than one statement's rows
    assert all(by_id[i].handle and by_id[i].first for i in range(100, 170))
    assert not claims[-1].handle and not claims[-1].duplicate  # 100 twice: the first handles
    again = await app.updates.claim_many("telegram", [100, 169, 170], done=[100])
    assert [c.handle for c in again] == [False, False, True]
    assert again[0].duplicate and not again[1].duplicate


async def test_done_marks_ride_in_the_statement_of_the_next_claims(app):
    """A group write is one statement: the done marks of finished updates and the first
    claims of new ones, so a busy front end pays one round trip per group."""
    await app.updates.claim_many("telegram", [1, 2, 3])
    statements: dict[int, str] = {}  # by execution (PostgreSQL's read engine shares events)

    def _seen(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        statements[id(context)] = statement

    engines = {app.db.write.sync_engine, app.db.read.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", _seen)
    try:
        claims = await app.updates.claim_many("telegram", [4, 5], done=[1, 2])
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", _seen)
    assert [c.handle and c.first for c in claims] == [True, True]
    assert len([s for s in statements.values() if "processed_updates" in s]) == 1
    later = await app.updates.claim_many("telegram", [1, 2, 3])
    assert [c.duplicate for c in later] == [True, True, False]  # 3 is still being handled
