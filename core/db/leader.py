"""One leader among several service processes: a PostgreSQL advisory lock, a file lock on SQLite.

The chain watcher and the keeper must run in exactly one process (they submit transactions
and advance the chain cursor). Every process tries to take the lock; the one that holds it
leads until its database session ends, which PostgreSQL notices when the process dies, so a
standby takes over within one retry interval. On SQLite (one machine) an ``flock`` on a file
beside the database plays the same role and is released by the kernel when the process dies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.engine import Database

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(
        hashlib.sha256(f"rigshare:{name}".encode()).digest()[:8], "big", signed=True
    )


class LeaderLock:
    """Try to become the leader for ``name``; ``held`` checks the lock is still ours.

    Methods never raise for a lost database: they answer False and the caller stands by.
    """

    def __init__(self, db: Database, name: str = "leader") -> None:
        self.db = db
        self.name = name
        self.key = lock_key(name)
        self._conn: AsyncConnection | None = None
        self._fd: int | None = None

    @property
    def is_leader(self) -> bool:
        return self._conn is not None or self._fd is not None

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when this process now leads."""
        if self.is_leader:
            return await self.held()
        if self.db.is_sqlite:
            return self._acquire_file()
        conn = None
        try:
            conn = await self.db.write.connect()
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            await conn.commit()  # the lock is session-level: it outlives the transaction
        except Exception as exc:  # noqa: BLE001 - any database failure means "not leader"
            log.warning("leader election: database unavailable (%s)", exc)
            if conn is not None:
                await _close_quietly(conn)
            return False
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def held(self) -> bool:
        """True while the lock is still ours (the session that took it is alive)."""
        if self._fd is not None:
            return True
        if self._conn is None:
            return False
        try:
            mine = (
                await self._conn.execute(
                    text(
                        # a bigint key is stored as classid (high half) and objid (low half)
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                        "AND ((classid::bigint << 32) | objid::bigint) = :k"
                    ),
                    {"k": self.key},
                )
            ).scalar()
            await self._conn.commit()
        except Exception as exc:  # noqa: BLE001 - the session is gone: so is the lock
            log.warning("leader election: lost the database session (%s)", exc)
            await self._drop()
            return False
        if not mine:
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                await self._conn.commit()
            await self._drop()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close_quietly(conn)

    def _acquire_file(self) -> bool:
        import fcntl  # POSIX only; the service runs on Linux

        path = _lock_path(self.db.url, self.name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True


def _lock_path(url: str, name: str) -> str:
    database = make_url(url).database or ""
    if not database or database == ":memory:":
        # an in-memory database belongs to one process: a private lock file is enough
        return os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rigshare-{os.getpid()}-{name}.lock")
    return str(Path(database).with_name(Path(database).name + f".{name}.lock"))


async def _close_quietly(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
