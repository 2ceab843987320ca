"""Engines for SQLite (default, WAL) and PostgreSQL (``DATABASE_URL``)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from core.db import sqlite_inline

SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a statement waits for another process's lock
# SQLite statements run inline in the event loop (``core.db.sqlite_inline``). Writers of this
# process queue for the ONE write connection (the pool is the queue: FIFO, no lock contention,
# no BEGIN IMMEDIATE retries between our own connections); readers get connections of their
# own and run beside the writer thanks to WAL.
SQLITE_WRITERS = 1
SQLITE_READERS = 8  # kept open; more are opened (and closed again) under a burst
SQLITE_READERS_BURST = 56
# Statement parameters carry secrets (generated SSH keys in the outbox, WalletConnect keys):
# SQLAlchemy is told to hide them from its logs and error texts (``hide_parameters``), and
# aiosqlite, which logs each call with its arguments at DEBUG, is held at INFO.
PARAMETER_LOGGERS = ("aiosqlite",)
# the table an INSERT, UPDATE or DELETE writes, as SQLAlchemy and repo_base.upsert render it
_WRITE_TARGET = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_DIRTY = "rigshare_watched_write"  # a connection's transaction wrote a watched table


def _hide_parameter_logs() -> None:
    for name in PARAMETER_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)


@dataclass
class Database:
    """A write engine and a read engine; on PostgreSQL both share one pool.

    SQLite gets two: writers open their transaction with ``BEGIN IMMEDIATE`` so a writer never
    reads and then deadlocks on the lock upgrade against another process; in this process they
    take turns on one connection. Readers run each statement by itself (no BEGIN) beside the
    writer thanks to WAL.
    """

    url: str
    write: AsyncEngine
    read: AsyncEngine

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def sessions(
        self, *, readonly: bool = False, one_statement: bool = False
    ) -> async_sessionmaker[AsyncSession]:
        """``one_statement``: writes of a single statement, atomic by itself. On PostgreSQL
        they run on the AUTOCOMMIT engine (the pool's, as the reads): no BEGIN and COMMIT
        round trips around the statement. SQLite's writers take their turn as any write."""
        engine = self.write
        if readonly or (one_statement and not self.is_sqlite):
            engine = self.read
        return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    def watch_writes(self, tables: Collection[str], changed: Callable[[], None]) -> None:
        """Call ``changed`` when a statement of this process writes one of ``tables``, and
        again when its transaction commits (a reader that ran in between read the old rows).
        """
        watched = frozenset(tables)

        def _executed(
            conn: Connection, _cursor: Any, statement: str, *_rest: Any
        ) -> None:  # (SQLAlchemy's event signature)
            target = _WRITE_TARGET.match(statement)
            if target is not None and target.group(1) in watched:
                conn.info[_DIRTY] = True
                changed()

        def _committed(conn: Connection) -> None:
            # (a flag left by a transaction that rolled back only costs one more "changed")
            if conn.info.pop(_DIRTY, False):
                changed()

        for engine in {self.write.sync_engine, self.read.sync_engine}:
            event.listen(engine, "after_cursor_execute", _executed)
            event.listen(engine, "commit", _committed)

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read.pool is not self.write.pool:
            await self.read.dispose()


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    inline = make_url(url).set(drivername=f"sqlite+{sqlite_inline.DRIVER}")
    engine = create_async_engine(
        inline,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        hide_parameters=True,
        pool_size=SQLITE_WRITERS if immediate else SQLITE_READERS,
        max_overflow=0 if immediate else SQLITE_READERS_BURST,
        # a writer waits its turn as long as it would wait for another process's lock
        pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000 * 2,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # the DBAPI's own types
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # a short wait in this thread; longer ones are asynchronous (core.db.sqlite_inline)
        cur.execute(f"PRAGMA busy_timeout={sqlite_inline.SPIN_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    # Readers issue no BEGIN: each statement is its own read transaction with its own WAL
    # snapshot, as reads on PostgreSQL run (AUTOCOMMIT, READ COMMITTED: a snapshot per
    # statement). A BEGIN and a ROLLBACK around a read were two of its three statements.

    return engine


def _private_sqlite_file(url: str) -> None:
    """Create the database file (and its directory) readable by this user only.

    It holds wallet addresses, chat ids and, until delivered, generated SSH keys. SQLite gives
    its -wal and -shm files the database file's mode, so they follow. A file an older version
    created world-readable is narrowed.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def normalise_url(url: str) -> str:
    """Accept plain driver names and pick the async driver: postgresql:// -> +asyncpg."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


# PostgreSQL: connections kept open cover what one process has in flight (16 Telegram updates
# at once, the outbox sender, the agent API...), so a burst does not open and close overflow
# connections (each a new backend process) on every checkout. Each connection keeps the
# prepared statements of the queries it ran (asyncpg, through SQLAlchemy's per-connection
# cache): sized for every distinct statement the service issues, not the default 100, so the
# hot queries are never evicted and re-prepared.
PG_POOL_SIZE = 20
PG_PREPARED_STATEMENTS = 500


def create_database(
    url: str, *, pool_size: int = PG_POOL_SIZE, schema: str | None = None
) -> Database:
    """Engines for ``url``; ``schema`` sets PostgreSQL's search_path (test isolation)."""
    url = normalise_url(url)
    _hide_parameter_logs()
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        return Database(
            url=url,
            write=_sqlite_engine(url, immediate=True),
            read=_sqlite_engine(url, immediate=False),
        )
    connect_args: dict[str, Any] = {"prepared_statement_cache_size": PG_PREPARED_STATEMENTS}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,  # at most 30 a process, as before
        connect_args=connect_args,
        hide_parameters=True,
    )
    # Reads run without a transaction of their own. Under READ COMMITTED (PostgreSQL's
    # default, used here) every statement takes its own snapshot even inside a transaction,
    # so a read-only transaction added nothing but two round trips (BEGIN, ROLLBACK) to each
    # read, e.g. the pending-question lookup every chat update makes. Same pool.
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Database(url=url, write=engine, read=reads)
