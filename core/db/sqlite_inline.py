"""SQLite for asyncio without a thread hop per statement: ``sqlite+inline://``.

aiosqlite runs every call on a worker thread: a short session makes about nine hand-offs
between the event loop and that thread, ~1 ms of CPU, for statements SQLite itself answers in
microseconds (a SELECT by key: ~5 µs; a write under WAL with ``synchronous=NORMAL`` does not
wait for the disk). This dialect is SQLAlchemy's own pysqlite dialect marked asynchronous:
the AsyncEngine runs it in its greenlet like any async driver, and each statement runs inline
in the event loop's thread.

What could block the loop is a lock held by another process (``rigshare chat`` or a second
service on the same file). SQLite's own busy handler would sleep in this thread for up to the
busy timeout, so connections get a busy timeout of a few milliseconds and a statement that
still finds the database busy is tried again after an asynchronous sleep (doubling, up to
``MAX_BACKOFF_S``) until ``deadline_s`` has passed; the loop keeps serving meanwhile. Within
this process writers never meet at the lock: the write engine has one connection and its pool
is the queue (``core.db.engine``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_only, in_greenlet

DRIVER = "inline"
SPIN_MS = 5  # SQLite's own busy wait, in this thread, before an asynchronous retry
FIRST_BACKOFF_S = 0.001
MAX_BACKOFF_S = 0.05
# SQLITE_BUSY_SNAPSHOT (a read transaction that wants to write after another wrote) can never
# succeed by waiting: only the plain "busy" results are tried again.
RETRIED = frozenset({"SQLITE_BUSY", "SQLITE_BUSY_RECOVERY", "SQLITE_BUSY_TIMEOUT"})


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorname", "") in RETRIED


async def _nothing() -> None:
    return None


def _wait_and_retry(attempt: Any, deadline_s: float) -> Any:
    """Call ``attempt`` until it does not find the database busy or the deadline passes.

    A statement that returned SQLITE_BUSY did nothing, so it is safe to run again.
    """
    give_up = time.monotonic() + deadline_s
    backoff = FIRST_BACKOFF_S
    while True:
        if in_greenlet():
            await_only(asyncio.sleep(backoff))
        else:  # synchronous use (a script, a migration run by hand): nothing else to serve
            time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= give_up:
                raise


def _deadline_s(connection: sqlite3.Connection) -> float:
    """How long a statement on ``connection`` may wait for another process's lock."""
    if isinstance(connection, InlineConnection):
        return connection.deadline_s
    return InlineConnection.deadline_s


class InlineCursor(sqlite3.Cursor):
    """Reads its rows at once, as aiosqlite does: the statement is finished (no statement
    left open on a connection that goes back to the pool), and a result read later, after
    other sessions ran, still holds what the query returned."""

    _rows: deque[Any] = deque()

    def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            _wait_and_retry(
                lambda: sqlite3.Cursor.execute(self, sql, parameters), _deadline_s(self.connection)
            )
        self._rows = deque(super().fetchall()) if self.description else deque()
        if in_greenlet():
            # SQLAlchemy's AsyncConnection.execute insists that a statement awaited something
            # (its check for a synchronous driver): one switch to the loop's side and back,
            # without yielding to the loop (microseconds)
            await_only(_nothing())
        return self

    def executemany(self, sql: str, seq_of_parameters: Any) -> InlineCursor:
        # inside a transaction (SQLAlchemy always opens one): the lock is held already, so no
        # busy retry that could repeat rows
        super().executemany(sql, seq_of_parameters)
        self._rows = deque()
        if in_greenlet():
            await_only(_nothing())
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    def __iter__(self) -> InlineCursor:
        return self

    def __next__(self) -> Any:
        if not self._rows:
            raise StopIteration
        return self._rows.popleft()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's async results: the rows are read already."""


class InlineConnection(sqlite3.Connection):
    deadline_s = 30.0

    def cursor(self, factory: Any = InlineCursor) -> sqlite3.Cursor:  # type: ignore[override]
        # (typeshed overloads cursor() on the factory's type; every cursor here is inline)
        cursor: sqlite3.Cursor = super().cursor(factory)
        return cursor

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def commit(self) -> None:
        try:
            super().commit()
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        _wait_and_retry(lambda: sqlite3.Connection.commit(self), self.deadline_s)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):  # noqa: N801 - SQLAlchemy's naming
    """pysqlite, run inline by the AsyncEngine (``is_async``), with asynchronous busy waits."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        timeout_s = float(cparams.pop("timeout", 30.0))
        cparams["timeout"] = SPIN_MS / 1000
        cparams["factory"] = InlineConnection
        cparams["check_same_thread"] = False  # every call comes from the loop's thread
        conn = super().connect(*cargs, **cparams)
        conn.deadline_s = timeout_s
        return conn


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")
