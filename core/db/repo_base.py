"""What every repository shares: the session, a row by its primary key, and INSERT ... ON
CONFLICT DO NOTHING."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    TextClause,
    bindparam,
    inspect,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

E = TypeVar("E")


@functools.cache
def _by_primary_key(entity: Any) -> Select[Any]:
    columns = inspect(entity).primary_key
    return select(entity).where(*(c == bindparam(f"k{i}") for i, c in enumerate(columns)))


async def by_key(session: AsyncSession, entity: type[E], *key: object) -> E | None:
    """The entity with primary key ``key``, or None: ``session.get`` as one cached SELECT.
    ``session.get`` builds its load for each call (about half the cost of a repository's
    read again); the unit of work's session is new, so its identity map holds nothing the
    SELECT could have been spared for."""
    params = {f"k{i}": value for i, value in enumerate(key)}
    statement = _by_primary_key(cast(Any, entity))  # (typeshed: a type[E] is no Hashable)
    found: E | None = (await session.execute(statement, params)).scalar_one_or_none()
    return found


def one_of(column: Any, values: Iterable[object]) -> ColumnElement[bool]:
    """``column IN (...)`` for a short, fixed set of values (rental states), a parameter for
    each. SQLAlchemy renders ``in_(list)`` anew at every execution (an "expanding" parameter,
    with a cast per value on PostgreSQL); this form compiles once, so a statement built with
    it and kept is cached like any other."""
    return cast(ColumnElement[bool], column.in_([literal(v, column.type) for v in values]))


@functools.cache
def insert_or_ignore(dialect: str, table: Any, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, built once per dialect; values are passed
    as parameters. SQLAlchemy still compiles it on every execution (its dialect inserts carry
    no cache key): hot paths use ``upsert``, which it caches."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return ins(table).on_conflict_do_nothing(index_elements=list(keys))


@functools.cache
def upsert(table: Table, keys: tuple[str, ...], replace: tuple[str, ...] = ()) -> TextClause:
    """INSERT of every column of ``table`` (each a parameter of its name) ON CONFLICT (keys)
    DO NOTHING, or DO UPDATE SET the ``replace`` columns to the new row's values.

    Written as text because SQLAlchemy gives its dialect inserts (``insert(...)
    .on_conflict_do_...``) no cache key: each execution compiled them again, a large share
    of a chat update's cost on the hot paths (the update ledger, pending questions). Text is
    cached, and the statement is the same on SQLite (3.24+) and PostgreSQL.
    """
    names = [c.name for c in table.columns]
    cols = ", ".join(f'"{n}"' for n in names)
    values = ", ".join(f":{n}" for n in names)
    target = ", ".join(f'"{k}"' for k in keys)
    action = (
        "DO UPDATE SET " + ", ".join(f'"{n}" = excluded."{n}"' for n in replace)
        if replace
        else "DO NOTHING"
    )
    sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({values}) ON CONFLICT ({target}) {action}'
    return text(sql).bindparams(*(bindparam(c.name, type_=c.type) for c in table.columns))


def rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE touched. Those statements give a CursorResult;
    ``AsyncSession.execute`` is typed for any statement, so it only promises a Result."""
    return cast(CursorResult[Any], result).rowcount


class Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    def add(self, entity: object) -> None:
        self.s.add(entity)

    async def flush(self) -> None:
        await self.s.flush()
