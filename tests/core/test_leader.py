"""One leader among processes: PostgreSQL advisory lock and SQLite file lock, with takeover."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys

import pytest

from bot.leadership import Leadership
from core.db.engine import create_database
from core.db.leader import LeaderLock, lock_key
from tests.support import PG_URL, pg_available

needs_pg = pytest.mark.skipif(
    not pg_available() and not os.environ.get("CI"), reason="PostgreSQL not reachable"
)


def test_lock_key_is_stable_and_signed_64_bit():
    assert lock_key("leader") == lock_key("leader")
    assert lock_key("leader") != lock_key("other")
    assert -(2**63) <= lock_key("leader") < 2**63


@pytest.fixture
async def pg_pair():
    name = f"test-{secrets.token_hex(4)}"  # a key of its own: parallel test runs never meet
    a, b = create_database(PG_URL), create_database(PG_URL)
    yield LeaderLock(a, name), LeaderLock(b, name)
    for db in (a, b):
        await db.dispose()


@needs_pg
async def test_postgres_only_one_holder_and_release_hands_over(pg_pair):
    first, second = pg_pair
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.held()
    await first.release()
    assert not first.is_leader
    assert await second.acquire()
    assert not await first.acquire()
    await second.release()


@needs_pg
async def test_postgres_dead_session_loses_the_lock_and_a_standby_takes_over(pg_pair):
    first, second = pg_pair
    assert await first.acquire()
    pid = (await first._conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
    await first._conn.commit()
    # the leader's session dies (what a SIGKILLed process looks like to PostgreSQL)
    killer = create_database(PG_URL)
    async with killer.write.connect() as conn:
        await conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    await killer.dispose()
    assert not await first.held()
    assert not first.is_leader
    for _ in range(50):  # the server releases the lock as the backend exits
        if await second.acquire():
            break
        await asyncio.sleep(0.05)
    assert second.is_leader
    await second.release()


def test_sqlite_file_lock_is_exclusive(tmp_path):
    url = f"sqlite:///{tmp_path}/r.sqlite3"
    a, b = create_database(url), create_database(url)
    first, second = LeaderLock(a), LeaderLock(b)

    async def scenario():
        assert await first.acquire()
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
        await second.release()
        await a.dispose()
        await b.dispose()

    asyncio.run(scenario())


def test_sqlite_lock_of_a_killed_process_is_taken_over(tmp_path):
    url = f"sqlite:///{tmp_path}/r.sqlite3"
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            "import asyncio,sys,time\n"
            "from core.db.engine import create_database\n"
            "from core.db.leader import LeaderLock\n"
            f"lock = LeaderLock(create_database({url!r}))\n"
            "assert asyncio.run(lock.acquire())\n"
            "print('leading', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "leading"
        db = create_database(url)
        lock = LeaderLock(db)
        assert not asyncio.run(lock.acquire())
        holder.kill()
        holder.wait()
        assert asyncio.run(lock.acquire())
    finally:
        holder.kill()


@needs_pg
async def test_leadership_runs_work_in_one_process_and_fails_over(pg_pair):
    first_lock, second_lock = pg_pair
    running: list[str] = []

    def worker(name: str):
        async def work():
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return work

    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    first = Leadership(first_lock, [worker("first")], retry_s=0.05, check_s=0.05)
    second = Leadership(second_lock, [worker("second")], retry_s=0.05, check_s=0.05)
    t1 = asyncio.create_task(first.run(stop_first))
    await asyncio.wait_for(first.leading.wait(), 5)
    t2 = asyncio.create_task(second.run(stop_second))
    await asyncio.sleep(0.3)
    assert running == ["first"]
    assert not second.leading.is_set()

    stop_first.set()  # the leader shuts down: its work stops, the standby takes over
    await asyncio.wait_for(t1, 5)
    await asyncio.wait_for(second.leading.wait(), 5)
    await asyncio.sleep(0.1)
    assert running == ["second"]
    stop_second.set()
    await asyncio.wait_for(t2, 5)
    assert running == []
    assert (first.terms, second.terms) == (1, 1)
