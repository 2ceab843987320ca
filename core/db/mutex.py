"""A mutex shared by every service process on one database.

Used where processes must take turns on something outside the database, e.g. the relayer's
transaction nonces (several processes send from one key). PostgreSQL: a transaction-level
advisory lock (``pg_advisory_xact_lock``), released by the commit, or by PostgreSQL when the
holder dies. SQLite (processes on one machine): an ``flock`` on a file beside the database,
released by the kernel when the holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from sqlalchemy import text

from core.db.engine import Database
from core.db.leader import _lock_path as lock_path
from core.db.leader import lock_key


class DatabaseMutex:
    """``async with mutex(): ...`` holds the lock; raises what the database raises."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self.key = lock_key(f"mutex:{name}")
        self._local = asyncio.Lock()  # this process's tasks queue here, not in the database

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        async with self._local:
            if self.db.is_sqlite:
                async with self._file():
                    yield
                return
            async with self.db.write.connect() as conn, conn.begin():
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.key})
                yield

    @contextlib.asynccontextmanager
    async def _file(self) -> AsyncIterator[None]:
        import fcntl  # POSIX only; the service runs on Linux

        path = lock_path(self.db.url, f"mutex-{self.name.replace(':', '-')}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock
